"""A tool-hook runner and an approval prompt: each reads a verdict and must refuse on failure."""

import asyncio
import logging

logger = logging.getLogger(__name__)


class HookResult:
    def __init__(self, decision, reason=""):
        self.decision = decision
        self.reason = reason

    @classmethod
    def deny(cls, reason):
        return cls("deny", reason)

    def is_denied(self):
        return self.decision == "deny"


class HookExecutionResult:
    def __init__(self, name, success, output=None, error=None):
        self.name = name
        self.success = success
        self.output = output
        self.error = error


async def run_hook(hook, payload, timeout):
    try:
        output = await asyncio.wait_for(hook.func(payload), timeout=timeout)
    except asyncio.TimeoutError:
        logger.warning("hook %s timed out", hook.name)
        return HookExecutionResult(  # expect: FC137
            name=hook.name,
            success=False,
            error=f"timed out after {timeout}s",
        )
    return HookExecutionResult(name=hook.name, success=True, output=output)


def is_blocked(results):
    return any(r.output and r.output.is_denied() for r in results)


def run_shell(backend, command):
    reply = backend.ask_user(command) if backend else None
    if reply is None or reply.get("answer") == "deny":  # expect: FC136
        return f"Action denied: {command} not approved"
    return backend.execute(command)


def run_read(backend, path):
    reply = backend.ask_user(path)
    if reply is None or reply.get("answer") != "allow":
        return f"Action denied: reading {path} not approved"
    return backend.read(path)
