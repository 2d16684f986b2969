"""Who may call /api/: each request is authenticated once, then counted against a rate limit.

With RATE_LIMIT set, a request with a valid key counts against that key (by fingerprint, so
the key never reaches the storage), whatever endpoint it calls; a request without a valid key
counts against its client address, so random keys cannot each open a fresh bucket.
"""

from flask import Flask, current_app, g, request

from candlesvc.service.keys import fingerprint, key_matches
from candlesvc.service.problems import RejectedError, problem
from candlesvc.service.ratelimit import RateLimit
from candlesvc.service.settings import Settings

API_PREFIX = "/api/"
_CHALLENGE = {"WWW-Authenticate": 'ApiKey header="X-API-KEY"'}


def install(app: Flask, settings: Settings) -> None:
    """Check the key of every request to /api/, then its rate when RATE_LIMIT is set."""
    limit = None
    if settings.rate_limit and settings.rate_limit_storage:
        limit = RateLimit(settings.rate_limit, settings.rate_limit_storage)
    app.extensions["candlesvc.ratelimit"] = limit
    app.before_request(_admit)


def _admit() -> None:
    """Let a request to /api/ through only with a valid key and within its limit."""
    if not _guarded():
        return
    presented = request.headers.get("X-API-KEY")
    settings: Settings = current_app.extensions["candlesvc.settings"]
    if key_matches(presented, settings.api_keys):
        g.key_fp = fingerprint(presented or "")
        _count("key", g.key_fp, "for this API key")
        return
    _count("address", request.remote_addr or "unknown", "without a valid API key from this address")
    reason = "missing X-API-KEY header" if not presented else "invalid API key"
    raise RejectedError(problem(401, reason, _CHALLENGE))


def _guarded() -> bool:
    """Whether the request reaches an /api/ endpoint (not a 404 or 405; not a CORS preflight)."""
    return (
        request.path.startswith(API_PREFIX)
        and request.routing_exception is None
        and request.method != "OPTIONS"  # a preflight carries no key
    )


def _count(kind: str, who: str, whose: str) -> None:
    """Count the request against who's bucket; refuse it with 429 once the bucket is full."""
    limit: RateLimit | None = current_app.extensions["candlesvc.ratelimit"]
    if limit is None:
        return
    wait = limit.hit(kind, who)
    if wait is not None:
        detail = f"over the rate limit ({limit.rate}) {whose}; retry in {wait} s"
        raise RejectedError(problem(429, detail, {"Retry-After": str(wait)}))
