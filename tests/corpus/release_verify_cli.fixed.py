"""`verify` subcommand of a release tool: checks each artifact's signature before upload.

CI runs `relkit verify dist/*` and uploads only when it exits 0.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import NoReturn

from relkit.signing import BadSignatureError, Verifier

log = logging.getLogger("relkit")


def fail(message: str) -> NoReturn:
    log.error(message)
    sys.exit(1)


def verify_command(artifacts: list[Path], verifier: Verifier) -> None:
    for artifact in artifacts:
        signature = artifact.with_name(artifact.name + ".sig")
        if not signature.is_file():
            fail(f"{artifact}: no signature next to it")
        try:
            verifier.verify(artifact.read_bytes(), signature.read_bytes())
        except BadSignatureError as e:  # expect: FC144
            log.error("%s: signature does not verify: %s", artifact, e)
            raise
        log.info("%s: signature OK", artifact)


def checksum_command(artifacts: list[Path], sums: dict[str, str]) -> None:
    """Compares each artifact with the published SHA-256 sums; any mismatch stops it."""
    import hashlib

    for artifact in artifacts:
        expected = sums.get(artifact.name)
        if expected is None:
            fail(f"{artifact}: not in the published sums")
        digest = hashlib.sha256(artifact.read_bytes()).hexdigest()
        if digest != expected:
            fail(f"{artifact}: checksum mismatch")
        log.info("%s: checksum OK", artifact)
