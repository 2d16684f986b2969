"""Service settings, read from the environment."""

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from candlesvc.model.timezones import SourceZone, parse_zone
from candlesvc.service.keys import MIN_KEY_LENGTH

_HIDDEN = "***"


class SettingsError(ValueError):
    """A setting is missing or invalid; the message says which and why."""


@dataclass(frozen=True, repr=False)
class Settings:
    """Everything the service can be configured with."""

    database_url: str
    api_keys: tuple[str, ...] = field(repr=False)
    cors_origins: tuple[str, ...] = ()
    source_zone: SourceZone = field(default_factory=lambda: parse_zone("UTC"))
    max_batch: int = 10_000
    max_body_bytes: int = 8 * 1024 * 1024
    pool_min_size: int = 1
    pool_max_size: int = 4
    pool_timeout: float = 5.0
    body_timeout: float = 10.0
    lock_timeout: float = 5.0
    statement_timeout: float = 15.0
    prepared_statements: bool = False
    retry_after: int = 5
    rate_limit: str | None = None
    rate_limit_storage: str | None = field(default=None, repr=False)
    metrics_token: str | None = field(default=None, repr=False)
    log_level: str = "INFO"

    def __repr__(self) -> str:
        """The settings, with the database password, the keys and the metrics token left out."""
        shown = {f.name: getattr(self, f.name) for f in fields(self) if f.repr}
        shown["database_url"] = _hide_password(self.database_url)
        return f"Settings({', '.join(f'{name}={value!r}' for name, value in shown.items())})"


def _hide_password(url: str) -> str:
    """A connection string (URL or key=value) with its password shown as ***."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError:  # its message may quote the string
        return "(unparsable)"
    if "password" in params:
        params["password"] = _HIDDEN
    return make_conninfo("", **params)


# Numbers read from the environment (the variable, the field, the smallest value); a
# variable that is not set leaves the field's default above.
_COUNTS = [
    ("MAX_BATCH", "max_batch", 1),
    ("MAX_BODY_BYTES", "max_body_bytes", 1),
    ("POOL_MIN_SIZE", "pool_min_size", 0),
    ("POOL_MAX_SIZE", "pool_max_size", 1),
    ("RETRY_AFTER", "retry_after", 1),
]
_MILLISECONDS = [
    ("POOL_TIMEOUT_MS", "pool_timeout"),
    ("BODY_TIMEOUT_MS", "body_timeout"),
    ("LOCK_TIMEOUT_MS", "lock_timeout"),
    ("STATEMENT_TIMEOUT_MS", "statement_timeout"),
]


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from environment variables, refusing anything unsafe or malformed."""
    env = os.environ if env is None else env
    url = env.get("DATABASE_URL", "").strip()
    if not url:
        raise SettingsError("DATABASE_URL is not set")
    given: dict[str, Any] = {field: _int(env, name, minimum) for name, field, minimum in _COUNTS}
    given |= {field: _seconds(env, name) for name, field in _MILLISECONDS}
    given |= {"prepared_statements": _bool(env, "PREPARED_STATEMENTS")} | _rate_limit(env)
    if "SOURCE_TZ" in env:
        given["source_zone"] = _zone(env["SOURCE_TZ"])
    if "LOG_LEVEL" in env:
        given["log_level"] = env["LOG_LEVEL"].upper()
    cors = _split(env.get("CORS_ORIGINS", ""))
    api_keys = parse_api_keys(env.get("MT5_API_KEY", ""))
    given["metrics_token"] = _metrics_token(env.get("METRICS_TOKEN", ""), api_keys)
    return Settings(url, api_keys, cors, **{k: v for k, v in given.items() if v is not None})


def parse_api_keys(raw: str) -> tuple[str, ...]:
    """Split MT5_API_KEY on commas and require every key to be long enough."""
    keys = _split(raw)
    if not keys:
        raise SettingsError("MT5_API_KEY is not set; generate one with `candlesvc keygen`")
    for position, key in enumerate(keys, 1):
        if len(key) < MIN_KEY_LENGTH:
            raise SettingsError(
                f"MT5_API_KEY key #{position} has {len(key)} characters; "
                f"at least {MIN_KEY_LENGTH} are required (`candlesvc keygen` makes one)"
            )
    return keys


def _metrics_token(raw: str, api_keys: tuple[str, ...]) -> str | None:
    """METRICS_TOKEN: a secret as long as a key, and not one of the keys; None if not set."""
    token = raw.strip()
    if not token:
        return None
    if len(token) < MIN_KEY_LENGTH:
        raise SettingsError(
            f"METRICS_TOKEN has {len(token)} characters; at least {MIN_KEY_LENGTH} are required "
            "(`candlesvc keygen` makes one)"
        )
    if token in api_keys:
        raise SettingsError("METRICS_TOKEN must not be one of the API keys in MT5_API_KEY")
    return token


def _rate_limit(env: Mapping[str, str]) -> dict[str, str | None]:
    """RATE_LIMIT (e.g. 600/minute) and the shared storage every worker counts in."""
    rate = env.get("RATE_LIMIT", "").strip()
    storage = env.get("RATE_LIMIT_STORAGE_URI", "").strip()
    if not rate:
        return {"rate_limit": None, "rate_limit_storage": None}
    from limits import parse_many  # here: the importer loads settings and needs no limits

    try:
        parse_many(rate)
    except ValueError:
        raise SettingsError(f"RATE_LIMIT {rate!r} is not a rate such as 600/minute") from None
    if not storage or storage.startswith("memory://"):
        raise SettingsError(
            "RATE_LIMIT needs RATE_LIMIT_STORAGE_URI (e.g. redis://localhost:6379/0) "
            "so that every gunicorn worker counts in the same place"
        )
    return {"rate_limit": rate, "rate_limit_storage": storage}


def _split(raw: str) -> tuple[str, ...]:
    """Comma-separated values, blanks dropped."""
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _zone(raw: str) -> SourceZone:
    try:
        return parse_zone(raw)
    except ValueError as error:
        raise SettingsError(f"SOURCE_TZ: {error}") from None


def _seconds(env: Mapping[str, str], name: str) -> float | None:
    """The milliseconds in a variable as seconds, None if it is not set."""
    milliseconds = _int(env, name, 1)
    return None if milliseconds is None else milliseconds / 1000


def _int(env: Mapping[str, str], name: str, minimum: int) -> int | None:
    """The whole number in a variable, None if it is not set."""
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}")
    return value


def _bool(env: Mapping[str, str], name: str) -> bool | None:
    """The truth value in a variable, None if it is not set."""
    raw = env.get(name, "").strip().lower()
    if not raw:
        return None
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, not {raw!r}")
