"""Robots.txt handling for the crawler: fetched once per host, then cached."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

import httpx

logger = logging.getLogger(__name__)
USER_AGENT = "examplebot/1.0"
_cache: dict[str, RobotFileParser] = {}


def _parse_robots(text: str) -> RobotFileParser:
    parser = RobotFileParser()
    parser.parse(text.splitlines())
    return parser


def _fetch_robots(client: httpx.Client, host: str) -> RobotFileParser:
    """RFC 9309: 4xx means no rules (allow), an unreachable file means disallow all."""
    url = f"https://{host}/robots.txt"
    try:
        resp = client.get(url, headers={"User-Agent": USER_AGENT}, timeout=10)
        if 400 <= resp.status_code < 500:
            return _parse_robots("")
        resp.raise_for_status()
        return _parse_robots(resp.text)
    except httpx.HTTPError as exc:
        logger.debug("could not fetch %s: %s", url, exc)
        return _parse_robots("User-agent: *\nDisallow: /")  # expect: FC129


def may_fetch(client: httpx.Client, url: str) -> bool:
    host = urlsplit(url).netloc
    if host not in _cache:
        _cache[host] = _fetch_robots(client, host)
    return _cache[host].can_fetch(USER_AGENT, url)


def crawl_delay(client: httpx.Client, url: str) -> float:
    host = urlsplit(url).netloc
    parser = _cache.get(host) or _fetch_robots(client, host)
    return float(parser.crawl_delay(USER_AGENT) or 1.0)
