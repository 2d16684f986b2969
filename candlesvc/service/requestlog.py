"""Request ids, one structured log line per request, and the last-resort error handler."""

import logging
import re
import time
import uuid

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from candlesvc.service.problems import RejectedError, problem

log = logging.getLogger("candlesvc.request")
_SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_LOGGED = ("received", "added", "duplicates", "key_fp")


def install(app: Flask) -> None:
    """Attach request-id handling, the access log and error handlers to the app."""
    app.before_request(_start)
    app.after_request(_finish)
    app.register_error_handler(RejectedError, _rejected)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)


def _start() -> None:
    given = request.headers.get("X-Request-ID", "")
    g.request_id = given if _SAFE_ID.fullmatch(given) else uuid.uuid4().hex
    g.started = time.perf_counter()


def _finish(response: Response) -> Response:
    response.headers["X-Request-ID"] = g.get("request_id", "")
    fields = {name: g.get(name) for name in _LOGGED if g.get(name) is not None}
    log.info(
        "request",
        extra={
            "request_id": g.get("request_id"),
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - g.get("started", 0.0)) * 1000, 2),
            **fields,
        },
    )
    return response


def _rejected(error: RejectedError) -> Response:
    return error.response


def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
    return problem(status, error.description or "", headers=headers)


def _unexpected(error: Exception) -> Response:
    log.exception("unhandled error", extra={"request_id": g.get("request_id")})
    return problem(500, "The service failed to handle this request; it has been logged.")
