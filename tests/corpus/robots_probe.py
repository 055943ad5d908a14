"""A fetch tool that asks robots.txt before fetching a page for an agent."""

import ipaddress
import socket

import httpx


class FetchRefused(Exception):
    pass


def robots_url(url):
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{rest.split('/', 1)[0]}/robots.txt"


def may_fetch(url, user_agent, parser):
    response = httpx.get(robots_url(url), headers={"User-Agent": user_agent})
    if response.status_code in (401, 403):
        raise FetchRefused(f"robots.txt answered {response.status_code}")
    elif 400 <= response.status_code < 500:
        return
    rules = response.text  # expect: FC138
    if not parser(rules).can_fetch(url, user_agent):
        raise FetchRefused("robots.txt disallows this page")


def may_fetch_strict(url, user_agent, parser):
    response = httpx.get(robots_url(url), headers={"User-Agent": user_agent})
    if response.status_code in (401, 403):
        raise FetchRefused(f"robots.txt answered {response.status_code}")
    elif 400 <= response.status_code < 500:
        return
    elif response.status_code >= 500:
        raise FetchRefused("robots.txt is unreachable: assuming full restriction")
    if not parser(response.text).can_fetch(url, user_agent):
        raise FetchRefused("robots.txt disallows this page")


def page_title(url):
    response = httpx.get(url)
    if response.status_code == 404:
        return None
    return response.text.split("<title>", 1)[-1].split("</title>", 1)[0]


def fetch_for_agent(url, user_agent, parser):
    may_fetch(url, user_agent, parser)
    return httpx.get(url, headers={"User-Agent": user_agent}).text


def resolved_addresses(host):
    addresses = []
    for info in socket.getaddrinfo(host, 443):
        try:
            addresses.append(ipaddress.ip_address(info[4][0]))
        except ValueError:
            continue  # expect: FC139
    return addresses


def refuse_private_hosts(url):
    host = url.split("://", 1)[-1].split("/", 1)[0]
    for address in resolved_addresses(host):
        if address.is_private or address.is_loopback:
            raise FetchRefused(f"{host} resolves to a private address")
