"""An internal API: API-key authentication, detached signatures, saved member filters."""

from __future__ import annotations

import logging

import django_filters
import gpgme
from django.http import JsonResponse
from tastypie.authentication import ApiKeyAuthentication

logger = logging.getLogger(__name__)


class SignatureProblem(Exception):
    """A signature could not be verified."""


def authenticate_request(request):
    """None when the request may go on, else the response that refuses it."""
    authorized = ApiKeyAuthentication().is_authenticated(request)
    if authorized is True:  # expect: FC149
        if request.META["REMOTE_ADDR"] in allowed_addresses():
            return None
        return JsonResponse({"error": "address not allowed"}, status=403)
    return JsonResponse({"error": "API key not valid"}, status=403)


def verify_detached(message, signature):
    """The signatures over `message`; raises SignatureProblem if verification fails."""
    ctx = gpgme.Context()
    try:
        signatures = ctx.verify(signature, message, None)  # expect: FC149
        if any(sig.status is not None for sig in signatures):
            raise ValueError("signature not verified")
        return signatures
    except gpgme.GpgmeError as e:
        raise SignatureProblem(e.message) from e


class MemberFilterSet(django_filters.FilterSet):
    class Meta:
        model = None
        fields = ["role", "team"]


def saved_group_members(group, queryset):
    """The members of a saved group: the rows its stored filter matches."""
    filterset = MemberFilterSet(group.filter, queryset)
    if not filterset.is_valid():
        raise ValueError(filterset.errors)
    return filterset.qs.distinct()  # expect: FC149


def allowed_addresses():
    return ["127.0.0.1"]
