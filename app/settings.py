"""The App's settings: one typed object, read from FAILCLOSED_* variables or a `.env` file.

Nothing is read at import time. `get_settings` is the cached FastAPI dependency (tests replace
it with `app.dependency_overrides`). Secrets are `SecretStr`, so a repr, a log line or an
error message shows `**********` instead of them. `validate_for_serving` refuses to serve
with a missing or placeholder secret: a webhook receiver with a guessable secret fails open.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "FAILCLOSED_"
MIN_WEBHOOK_SECRET_LENGTH = 16
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})

# Values people leave in a template; compared case-insensitively, whole or as a substring.
PLACEHOLDER_WORDS = frozenset({"changeme", "secret", "password", "xxx", "todo", "placeholder"})
PLACEHOLDER_SUBSTRINGS = (
    "changeme",
    "change-me",
    "change_me",
    "placeholder",
    "replace-me",
    "replace_me",
    "your-",
    "your_",
    "example",
)
TEMPLATE_BRACKETS = re.compile(r"^(<.*>|\{.*\}|\$\{.*\}|\[.*\]|%.*%)$", re.DOTALL)
PEM_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----.+-----END [A-Z ]*PRIVATE KEY-----", re.DOTALL
)

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
# A GitHub login (user or organisation): letters, digits and single inner hyphens, 1-39.
# Read as a switch by someone, as a login by us: refused, `all` or `off` says it plainly.
BOOLEAN_WORDS = frozenset({"on", "yes", "true", "no", "false", "none", "enabled", "disabled"})
GITHUB_LOGIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")


@dataclass(frozen=True)
class CodeScanningOptIn:
    """Which installations get the default-branch scan (`FAILCLOSED_CODE_SCANNING`).

    Opt-in, because uploading needs `security_events: write`, which an installation must
    accept, and code scanning (GitHub Advanced Security on private repositories). `off`
    (the default) scans nothing, `all` every installation, and a comma-separated list
    the installations named by id or by their account's login (case-insensitive).
    """

    everyone: bool = False
    installation_ids: frozenset[int] = frozenset()
    logins: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, text: str) -> CodeScanningOptIn:
        """`off`, `all`, or ids and logins separated by commas; ValueError naming a bad one."""
        words = [word.strip() for word in text.split(",") if word.strip()]
        lowered = [word.lower() for word in words]
        if lowered in ([], ["off"]):
            return cls()
        if lowered == ["all"]:
            return cls(everyone=True)
        bad = [
            w
            for w in words
            if not w.isdigit() and (not GITHUB_LOGIN.match(w) or w.lower() in BOOLEAN_WORDS)
        ]
        if bad or {"off", "all"} & set(lowered):
            wrong = ", ".join(repr(w) for w in bad) or "off/all among other entries"
            raise ValueError(
                f"must be off, all, or installation ids and account logins separated by "
                f"commas; not {wrong}"
            )
        return cls(
            installation_ids=frozenset(int(w) for w in words if w.isdigit()),
            logins=frozenset(w for w in lowered if not w.isdigit()),
        )

    def covers(self, installation_id: int, owner_login: str) -> bool:
        """Whether this installation's pushes to a default branch are scanned."""
        return (
            self.everyone
            or installation_id in self.installation_ids
            or owner_login.lower() in self.logins
        )


CODE_SCANNING_OFF = CodeScanningOptIn()


class SettingsError(ValueError):
    """The settings cannot be used to serve; the message lists every problem found."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("failclosed refuses to start:\n" + "\n".join(f"  - {p}" for p in problems))


class Settings(BaseSettings):
    """Everything the App needs to run; see README for each FAILCLOSED_* variable."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",  # a shared .env may hold other tools' variables
    )

    app_id: int = Field(gt=0, description="The GitHub App's numeric id.")
    private_key: SecretStr | None = Field(
        default=None, description="The App's private key as inline PEM."
    )
    private_key_path: Path | None = Field(
        default=None, description="A file holding the App's private key (PEM)."
    )
    webhook_secret: SecretStr | None = Field(
        default=None, description="The secret GitHub signs each delivery with."
    )
    github_api_url: str = Field(
        default="https://api.github.com",
        description="REST base URL; GitHub Enterprise Server uses https://HOST/api/v3.",
    )
    log_level: LogLevel = "INFO"
    queue_path: Path = Field(
        default=Path("failclosed-jobs.sqlite3"),
        description="The SQLite file that holds the job queue (embedded mode).",
    )
    queue_url: str | None = Field(
        default=None,
        description="redis://HOST:PORT/DB for the scale-out mode (dramatiq over Redis): "
        "`serve` then only accepts deliveries and `failclosed worker` runs the jobs.",
    )
    workers: int = Field(default=2, ge=1, le=64, description="Worker threads per process.")
    file_budget_seconds: float = Field(
        default=60.0,
        gt=0,
        le=600,
        description="Seconds one changed file's analysis may take (in its own child "
        "process, killed past it); such a file fails the check as not verified.",
    )

    max_inline_comments: int = Field(
        default=25,
        ge=0,
        le=100,
        description="Inline comments a review carries at most (blocking findings first, "
        "then by file and line); the check run lists every finding.",
    )

    code_scanning: str = Field(
        default="off",
        description="Which installations' pushes to their default branch are scanned whole "
        "and uploaded to code scanning (needs security_events: write): off, all, or "
        "installation ids and account logins separated by commas.",
    )

    @field_validator("code_scanning")
    @classmethod
    def _code_scanning_opt_in(cls, value: str) -> str:
        CodeScanningOptIn.parse(value)  # refuse a typo at start, not at the first push
        return value.strip()

    @property
    def code_scanning_opt_in(self) -> CodeScanningOptIn:
        return CodeScanningOptIn.parse(self.code_scanning)

    @field_validator("private_key", mode="before")
    @classmethod
    def _unescape_newlines(cls, value: object) -> object:
        """`.env` files and CI variables often hold a PEM on one line with literal `\\n`s."""
        if isinstance(value, str) and "\\n" in value and "\n" not in value:
            return value.replace("\\n", "\n")
        return value

    @field_validator("github_api_url")
    @classmethod
    def _https_api_url(cls, value: str) -> str:
        """The App's JWT and tokens travel to this URL: plain http only for a local stub."""
        parts = urlsplit(value.strip())
        if not parts.netloc:
            raise ValueError("must be an absolute URL such as https://api.github.com")
        if parts.scheme != "https" and not (
            parts.scheme == "http" and parts.hostname in LOCAL_HOSTS
        ):
            raise ValueError("must use https (plain http is allowed only for localhost)")
        return value.strip().rstrip("/")

    @field_validator("queue_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in ("redis", "rediss"):
            raise ValueError("must be a redis:// or rediss:// URL")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """The fields as repr and str show them: the API URL without its password."""
        for name, value in super().__repr_args__():
            yield name, redacted_url(value) if name == "github_api_url" else value

    def validate_for_serving(self) -> None:
        """Raise `SettingsError` listing every reason these settings must not serve webhooks."""
        problems = webhook_secret_problems(self.webhook_secret) + private_key_problems(self)
        if problems:
            raise SettingsError(problems)

    def private_key_pem(self) -> SecretStr:
        """The private key's PEM, inline or read from `private_key_path`."""
        if self.private_key is not None:
            return self.private_key
        if self.private_key_path is None:
            raise SettingsError(private_key_problems(self))
        return SecretStr(self.private_key_path.read_text(encoding="utf-8"))


def redacted_url(url: str) -> str:
    """The URL as logs may show it: `https://user:pw@host/x` becomes `https://***@host/x`
    (a user name can be a token as well)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))


def webhook_secret_problems(secret: SecretStr | None) -> list[str]:
    """Why this webhook secret is unusable (missing, short or a placeholder); empty if fine.

    The messages never echo the secret: they may end up in logs.
    """
    name = f"{ENV_PREFIX}WEBHOOK_SECRET"
    if secret is None or not secret.get_secret_value().strip():
        return [f"{name} is missing: set it to the webhook secret configured on the GitHub App"]
    value = secret.get_secret_value()
    problems = []
    if value != value.strip():
        problems.append(f"{name} has leading or trailing whitespace (a copy-paste slip?)")
    if looks_like_placeholder(value):
        problems.append(f"{name} looks like a placeholder: generate a random one")
    elif len(value) < MIN_WEBHOOK_SECRET_LENGTH:
        problems.append(
            f"{name} is shorter than {MIN_WEBHOOK_SECRET_LENGTH} characters: "
            "generate a random one, e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`"
        )
    return problems


def looks_like_placeholder(value: str) -> bool:
    """A template value such as `changeme`, `<secret>`, `${SECRET}` or `xxxxxxxxxxxxxxxx`."""
    lowered = value.strip().lower()
    return (
        lowered in PLACEHOLDER_WORDS
        or any(s in lowered for s in PLACEHOLDER_SUBSTRINGS)
        or bool(TEMPLATE_BRACKETS.match(lowered))
        or len(set(lowered)) <= 2
    )


def private_key_problems(settings: Settings) -> list[str]:
    """Why the App's private key is unusable (missing, ambiguous, unreadable, not a PEM)."""
    inline, path = settings.private_key, settings.private_key_path
    inline_name, path_name = f"{ENV_PREFIX}PRIVATE_KEY", f"{ENV_PREFIX}PRIVATE_KEY_PATH"
    if inline is not None and path is not None:
        return [f"set only one of {inline_name} and {path_name}, not both"]
    if inline is None and path is None:
        return [f"{inline_name} (inline PEM) or {path_name} (a PEM file) is missing"]
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            return [f"{path_name} cannot be read ({path}): {type(exc).__name__}"]
        where = f"{path_name} ({path})"
    else:
        text = inline.get_secret_value() if inline is not None else ""
        where = inline_name
    if not PEM_PRIVATE_KEY.search(text):
        return [f"{where} is not a PEM private key (-----BEGIN ... PRIVATE KEY-----)"]
    return rsa_key_problems(text, where)


def rsa_key_problems(pem: str, where: str) -> list[str]:
    """Why a PEM-shaped key cannot sign the App's JWTs (RS256), checked at start: else
    every job fails as "could not reach GitHub" and no check run is ever created. The
    messages never quote the key, nor the parser's error, which could."""
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except TypeError:
        return [f"{where} is encrypted: GitHub's App keys are not, use the downloaded file"]
    except (ValueError, UnsupportedAlgorithm):
        return [
            f"{where} cannot be loaded as a private key (damaged or truncated?): "
            "use the .pem file downloaded from the GitHub App's settings"
        ]
    if not isinstance(key, rsa.RSAPrivateKey):
        return [f"{where} is not an RSA key: GitHub Apps sign with RS256"]
    return []


def load_settings() -> Settings:
    """Read the settings from the environment and `.env`, turning errors into `SettingsError`."""
    try:
        return Settings()  # type: ignore[call-arg]  # app_id comes from the environment
    except ValidationError as exc:
        # include_input=False: a rejected value could be a secret.
        raise SettingsError(
            [
                f"{ENV_PREFIX}{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
                for err in exc.errors(include_input=False, include_url=False)
            ]
        ) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once on first use (the FastAPI dependency)."""
    return load_settings()
