"""A role graph whose link check can be called wrongly, and a tool-output redactor."""

import logging

logger = logging.getLogger(__name__)


class RoleGraph:
    def __init__(self):
        self.links = {}

    def has_link(self, child, parent, *domain):
        if len(domain) > 1:
            raise ValueError("at most one domain")  # expect: FC134
        if child == parent:
            return True
        key = (domain[0] + "::" if domain else "") + child
        return parent in self.links.get(key, ())


def output_for_model(secrets, text):
    try:
        shown = secrets.redact_known_values(text)
    except Exception:
        logger.warning("redaction failed")
        shown = text  # expect: FC135
        raise
    return shown


def roles_of(graph, user):
    """Every role a user holds; a malformed graph is an error, never an empty answer."""
    if not isinstance(graph, RoleGraph):
        raise TypeError("expected a RoleGraph")
    return sorted(parent for parent in graph.links.get(user, ()))


def preview_for_log(secrets, text):
    try:
        return secrets.redact_known_values(text)[:200]
    except Exception:
        logger.exception("redaction failed: logging nothing")
        return "[withheld]"
