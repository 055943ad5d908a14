"""Client for an OPA-style policy decision point, plus local evaluator chaining."""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

import httpx

logger = logging.getLogger(__name__)


class Decision(enum.Enum):
    ALLOW = "allow"
    DENY = "deny"


@dataclass
class Settings:
    url: str = "http://localhost:8181/v1/data/authz/allow"
    timeout: float = 0.5
    fail_open: bool = False  # only for incident response, never the default


@dataclass
class AccessRequest:
    principal: str
    action: str
    resource: str
    context: dict[str, object] = field(default_factory=dict)


class PolicyEngineClient:
    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self.http = http

    async def evaluate(self, request: AccessRequest) -> Decision:
        try:
            response = await self.http.post(
                self.settings.url,
                json={"input": request.__dict__},
                timeout=self.settings.timeout,
            )
            response.raise_for_status()
        except asyncio.TimeoutError:
            logger.warning("PDP timed out for %s on %s", request.principal, request.resource)
            return Decision.DENY  # expect: FC101
        except httpx.HTTPError:
            if self.settings.fail_open:
                logger.critical("PDP error; fail_open is set, permitting %s", request.action)
                return Decision.ALLOW
            raise
        return Decision.ALLOW if response.json().get("result") is True else Decision.DENY

    async def evaluate_strict(self, request: AccessRequest) -> Decision:
        try:
            response = await self.http.post(self.settings.url, json={"input": request.__dict__})
            return Decision.ALLOW if response.json()["result"] is True else Decision.DENY
        except (httpx.HTTPError, KeyError, ValueError):
            logger.exception("PDP answer unusable")
            return Decision.DENY


class Evaluator:
    name = "base"

    def permits(self, request: AccessRequest) -> bool:
        raise NotImplementedError


def evaluate_all(request: AccessRequest, evaluators: Iterable[Evaluator]) -> Decision:
    """Every evaluator must agree; one "no" denies."""
    verdict = Decision.ALLOW
    for evaluator in evaluators:
        try:
            if not evaluator.permits(request):
                verdict = Decision.DENY
        except Exception:  # expect: FC102
            logger.exception("evaluator %s crashed, skipping it", evaluator.name)
            return Decision.DENY
    return verdict


def evaluate_any(request: AccessRequest, evaluators: Iterable[Evaluator]) -> Decision:
    """Any evaluator may grant; errors count as "no"."""
    verdict = Decision.DENY
    for evaluator in evaluators:
        try:
            if evaluator.permits(request):
                verdict = Decision.ALLOW
        except Exception:
            logger.exception("evaluator %s crashed", evaluator.name)
            continue
    return verdict


def visible_resources(principal: str, resources: list[str], evaluator: Evaluator) -> list[str]:
    """Filter a listing down to what the principal may read."""
    shown = []
    for resource in resources:
        try:
            if not evaluator.permits(AccessRequest(principal, "read", resource)):
                continue
        except Exception:
            continue
        shown.append(resource)
    return shown
