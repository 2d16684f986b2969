"""Optional per-key rate limit on ingestion, shared by every worker through its storage."""

import logging
from typing import Any

from flask import Flask, request
from flask_limiter import Limiter

from candlesvc.security import fingerprint
from candlesvc.settings import Settings

INGEST_ENDPOINT = "candles.ingest"
log = logging.getLogger("candlesvc.ratelimit")


def _key_id() -> str:
    """Count requests per API key (by fingerprint, so the key never reaches the storage)."""
    return fingerprint(request.headers.get("X-API-KEY", ""))


def install_rate_limit(app: Flask, settings: Settings) -> None:
    """Limit POST /api/v1/candles per key when RATE_LIMIT is set."""
    if not settings.rate_limit:
        return
    limiter = Limiter(
        key_func=_key_id,
        app=app,
        storage_uri=settings.rate_limit_storage,
        headers_enabled=True,
        swallow_errors=True,  # an unreachable limit store must not stop ingestion
    )
    ingest = app.view_functions[INGEST_ENDPOINT]
    limited: Any = limiter.limit(settings.rate_limit)(ingest)
    app.view_functions[INGEST_ENDPOINT] = limited
    log.info("rate limit on", extra={"limit": settings.rate_limit})
