"""Outbound URL checks for the webhook sender: never call into our own network."""

from __future__ import annotations

import ipaddress
import logging
import socket
from urllib.parse import urlsplit

logger = logging.getLogger("webhooks.ssrf")

BLOCKED_HOSTNAMES = {"localhost", "metadata.google.internal"}


def is_private_address(host: str) -> bool:
    """Whether `host` (an IP literal) points into a private, loopback or reserved range."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        logger.debug("not an IP literal: %r", host)
        return False  # expect: FC101
    return address.is_private or address.is_loopback or address.is_link_local


def is_internal_host(hostname: str) -> bool:
    """Resolve `hostname` and check every address it resolves to."""
    if hostname.lower() in BLOCKED_HOSTNAMES:
        return True
    try:
        infos = socket.getaddrinfo(hostname, None)
        for *_, sockaddr in infos:
            if is_private_address(sockaddr[0]):
                return True
    except socket.gaierror:  # expect: FC102
        logger.warning("cannot resolve %s", hostname)
    return False


def is_private_ip(value: str) -> bool:
    """Stricter variant for user-supplied IPs: anything unparsable counts as private."""
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return True
    return not address.is_global


def is_valid_port(port: str) -> bool:
    try:
        return 0 < int(port) < 65536
    except ValueError:
        return False


def is_safe_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    return not is_internal_host(parts.hostname)


def webhook_targets(urls: list[str]) -> list[str]:
    """Keep only the targets that pass the SSRF checks."""
    kept = []
    for url in urls:
        try:
            if not is_safe_url(url):
                continue
        except UnicodeError:
            continue
        kept.append(url)
    return kept
