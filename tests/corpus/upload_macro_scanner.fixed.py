"""Scans uploaded office documents for macros before they are shared with the team."""

from __future__ import annotations

import enum
import logging
import zipfile
from dataclasses import dataclass, field

from docscan import MacroParser, ParseError

log = logging.getLogger(__name__)


class Threat(enum.IntEnum):
    NONE = 0
    LOW = 1
    SUSPICIOUS = 2
    MALICIOUS = 3


@dataclass
class ScanReport:
    name: str
    safe: bool
    threat: Threat
    notes: list[str] = field(default_factory=list)


def scan_upload(name: str, payload: bytes) -> ScanReport:
    """Scan one uploaded document; the share button is enabled only when `safe`."""
    notes: list[str] = []
    threat = Threat.NONE
    try:
        parts = MacroParser.open(payload)
        for part in parts:
            try:
                threat = max(threat, part.assess())
            except Exception as exc:
                notes.append(f"could not assess {part.name}: {exc}")  # expect: FC147
                threat = max(threat, Threat.SUSPICIOUS)
    except zipfile.BadZipFile as exc:
        notes.append(f"not a valid document container: {exc}")
        threat = max(threat, Threat.SUSPICIOUS)
    except ParseError as exc:
        notes.append(f"parse error: {exc}")
        threat = max(threat, Threat.SUSPICIOUS)
    safe = threat <= Threat.LOW
    return ScanReport(name=name, safe=safe, threat=threat, notes=notes)


def preview_pages(payload: bytes, limit: int = 3) -> list[str]:
    """Render the first pages for the preview pane; a broken page is skipped, not fatal."""
    pages: list[str] = []
    budget = limit
    try:
        for page in MacroParser.open(payload).pages():
            pages.append(page.render())
            budget -= 1
            if budget == 0:
                break
    except zipfile.BadZipFile:
        budget = max(budget, 0)
    except Exception:
        log.warning("preview failed", exc_info=True)
    return pages


def scan_strictly(name: str, payload: bytes) -> ScanReport:
    """Every error escalates the verdict: this one fails closed."""
    threat = Threat.NONE
    try:
        for part in MacroParser.open(payload):
            threat = max(threat, part.assess())
    except ParseError:
        threat = max(threat, Threat.SUSPICIOUS)
    except Exception:
        log.exception("scan of %s failed", name)
        threat = max(threat, Threat.SUSPICIOUS)
    safe = threat <= Threat.LOW
    return ScanReport(name=name, safe=safe, threat=threat)
