"""Django middleware: signed partner requests and IP allow-listing for the admin."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging

from django.conf import settings
from django.http import HttpResponseForbidden, JsonResponse

from .partners import PartnerRegistry, RegistryError

logger = logging.getLogger("partners")


class PartnerSignatureMiddleware:
    """Partner API calls under /partner/ must be signed with the partner's shared secret."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.registry = PartnerRegistry(settings.PARTNER_REGISTRY_URL)

    def __call__(self, request):
        if not request.path.startswith("/partner/"):
            return self.get_response(request)
        partner_id = request.headers.get("X-Partner-Id", "")
        signature = request.headers.get("X-Signature", "")
        try:
            secret = self.registry.secret_for(partner_id)
            expected = hmac.new(secret, request.body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected, signature):
                return HttpResponseForbidden("bad signature")
        except RegistryError:
            logger.error("partner registry unavailable; denying")
            raise  # expect: FC106
        return self.get_response(request)


class AdminIpAllowlistMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.networks = [ipaddress.ip_network(n) for n in settings.ADMIN_NETWORKS]

    def __call__(self, request):
        if request.path.startswith("/admin/"):
            try:
                address = ipaddress.ip_address(request.META["REMOTE_ADDR"])
            except (KeyError, ValueError):
                return HttpResponseForbidden("unknown client address")
            if not any(address in net for net in self.networks):
                return HttpResponseForbidden("admin is internal only")
        return self.get_response(request)


class PartnerQuotaMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.registry = PartnerRegistry(settings.PARTNER_REGISTRY_URL)

    def __call__(self, request):
        partner_id = request.headers.get("X-Partner-Id")
        if partner_id:
            try:
                if self.registry.quota_exceeded(partner_id):
                    return JsonResponse({"error": "quota exceeded"}, status=429)
            except RegistryError:
                logger.exception("quota lookup failed for %s", partner_id)
                return JsonResponse({"error": "quota service unavailable"}, status=503)
        return self.get_response(request)
