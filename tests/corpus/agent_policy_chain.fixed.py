"""The agent runtime's policy chain: every registered policy votes on each tool call.

Policies are plugins; any of them may raise, time out, or hand back an error result.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)


class Verdict(enum.Enum):
    ALLOW = "allow"
    DENY = "deny"


@dataclass
class PolicyResult:
    allowed: bool = False
    error: str | None = None
    reasons: list[str] = field(default_factory=list)


@dataclass
class ChainSettings:
    fail_open: bool = False  # documented: only for local experiments, never in production
    timeout: float = 2.0


class PolicyChain:
    def __init__(self, policies, blocklists, settings: ChainSettings | None = None) -> None:
        self.policies = policies
        self.blocklists = blocklists
        self.settings = settings or ChainSettings()

    def evaluate(self, call) -> Verdict:
        verdict = Verdict.ALLOW
        for policy in self.policies:
            try:
                if not policy.permits(call):
                    verdict = Verdict.DENY
                    break
            except Exception:  # expect: FC102
                logger.exception("policy %s crashed", policy.name)
                return Verdict.DENY
        return verdict

    async def evaluate_async(self, call) -> Verdict:
        verdict = Verdict.ALLOW
        for policy in self.policies:
            result: PolicyResult = await asyncio.wait_for(
                policy.evaluate(call), timeout=self.settings.timeout
            )
            if result.error:  # expect: FC109
                return Verdict.DENY
            if not result.allowed:
                return Verdict.DENY
        return verdict

    def decide(self, call) -> str:
        decision = "allow"
        for policy in self.policies:
            try:
                decision = policy.decide(call)
            except TimeoutError:  # expect: FC102
                logger.warning("policy %s timed out", policy.name)
                return "deny"
            if decision == "deny":
                break
        return decision

    def is_blocked(self, call) -> bool:
        blocked = False
        for blocklist in self.blocklists:
            try:
                if blocklist.matches(call.tool, call.arguments):
                    blocked = True
            except (TimeoutError, ConnectionError):  # expect: FC102
                return True
        return blocked

    def evaluate_with_break_glass(self, call) -> Verdict:
        """Near miss: skipping a broken policy only under the named, default-off setting."""
        verdict = Verdict.ALLOW
        for policy in self.policies:
            try:
                if not policy.permits(call):
                    return Verdict.DENY
            except Exception:
                if not self.settings.fail_open:
                    return Verdict.DENY
                logger.warning("fail_open: ignoring crashed policy %s", policy.name)
        return verdict

    def evaluate_strictly(self, call) -> Verdict:
        """Near miss: the verdict starts as deny and only an explicit approval flips it."""
        verdict = Verdict.DENY
        for policy in self.policies:
            result = policy.evaluate_sync(call)
            if result.error:
                continue
            if not result.allowed:
                return Verdict.DENY
            verdict = Verdict.ALLOW
        return verdict
