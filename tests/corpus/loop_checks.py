"""A tool gateway that runs every configured check on each call: policy plugins,
guardrails resolved from config, and compliance rules.

Any of them may be broken: a plugin that raises, a guard whose import fails.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass

logger = logging.getLogger(__name__)


class Decision(enum.Enum):
    ALLOW = "allow"
    DENY = "deny"


@dataclass
class GatewaySettings:
    fail_open: bool = False  # local experiments only


class ToolGateway:
    def __init__(self, evaluators, guards, rules, settings: GatewaySettings) -> None:
        self.evaluators = evaluators
        self.guards = guards
        self.rules = rules
        self.settings = settings

    @classmethod
    def from_config(cls, config, settings: GatewaySettings) -> ToolGateway:
        guards = []
        for spec in config.guardrails:
            try:
                guard = resolve_guard(spec.path)
            except Exception:  # expect: FC117
                logger.exception("could not resolve guardrail %r; skipping", spec.name)
                continue
            guards.append(guard)
        return cls(config.evaluators, guards, config.rules, settings)

    def evaluate(self, call) -> Decision:
        worst = Decision.ALLOW
        for name, evaluator in sorted(self.evaluators.items()):
            try:
                verdict = evaluator(call)
            except Exception as exc:  # expect: FC117
                logger.warning("policy plugin %s raised and was skipped: %s", name, exc)
                continue
            if verdict is Decision.DENY:
                worst = Decision.DENY
        return worst

    def review_compliance(self, call) -> dict:
        violations = []
        for rule in self.rules:
            try:
                if not rule.predicate(call):
                    violations.append(rule.name)
            except Exception as exc:  # expect: FC117
                self._log_event({"event": "rule_crashed", "error": str(exc)})
        return {"compliant": len(violations) == 0, "violations": violations}

    def evaluate_lenient(self, call) -> Decision:
        """Near miss: a broken plugin is skipped only under the named, default-off setting."""
        worst = Decision.ALLOW
        for evaluator in self.evaluators.values():
            try:
                verdict = evaluator(call)
            except Exception:
                if not self.settings.fail_open:
                    return Decision.DENY
                logger.warning("fail_open: ignoring a broken policy plugin")
                continue
            if verdict is Decision.DENY:
                worst = Decision.DENY
        return worst

    def visible_tools(self, tools) -> list:
        """Near miss: a tool whose guard fails is left out, which fails closed."""
        shown = []
        for tool in tools:
            try:
                for guard in self.guards:
                    guard.check_listing(tool)
            except Exception:
                continue
            shown.append(tool)
        return shown

    def _log_event(self, event: dict) -> None:
        logger.info("gateway event: %s", event)


def load_exporters(paths) -> list:
    """Near miss: an optional exporter that is not installed is skipped."""
    exporters = []
    for path in paths:
        try:
            exporter = import_string(path)
        except ImportError:
            continue
        exporters.append(exporter())
    return exporters


def resolve_guard(path):
    return import_string(path)()


def import_string(path):
    module, _, attr = path.partition(":")
    return getattr(__import__(module, fromlist=[attr]), attr)
