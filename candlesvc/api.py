"""HTTP endpoints: parse, validate, call the writer, translate errors."""

import json
import logging
from decimal import Decimal
from typing import Any

import psycopg
from flask import Blueprint, Response, current_app, g, jsonify, request
from psycopg_pool import ConnectionPool
from pydantic import ValidationError

from candlesvc.access import write_access
from candlesvc.body import read_body
from candlesvc.db import bounded
from candlesvc.models import CandleBatch, IngestResult, validate_batch
from candlesvc.openapi import openapi_document
from candlesvc.problems import FieldError, RejectedError, problem
from candlesvc.settings import Settings
from candlesvc.writer import CandleWriter, OnConflict

bp = Blueprint("candles", __name__)
log = logging.getLogger("candlesvc.api")
MAX_LISTED_ERRORS = 100


@bp.post("/api/v1/candles")
def ingest() -> tuple[Response, int]:
    """Validate a batch of candles and store the new ones."""
    settings = _settings()
    on_conflict = _on_conflict()
    batch = _read_batch(settings)
    g.received = len(batch.candles)
    result = _write(batch, settings, on_conflict)
    g.added, g.duplicates = result.records_added, result.duplicates
    return jsonify(result.model_dump(exclude_none=True)), 201


@bp.get("/health")
def health() -> Response:
    """The process is alive."""
    return jsonify(status="ok")


@bp.get("/health/ready")
def ready() -> Response | tuple[Response, int]:
    """The database answers, and the service's role may write candles."""
    try:
        with _pool().connection(timeout=2) as conn:
            access = write_access(conn)
    except psycopg.Error:
        return jsonify(status="unavailable", database="unreachable"), 503
    if not access.ok:
        log.error(access.reason())
        return jsonify(status="unavailable", database="cannot write"), 503
    return jsonify(status="ok", database="ok")


@bp.get("/openapi.json")
def openapi() -> Response:
    """The API description."""
    return jsonify(openapi_document())


def _read_batch(settings: Settings) -> CandleBatch:
    if request.mimetype != "application/json":
        raise RejectedError(problem(415, "send the batch as Content-Type: application/json"))
    body = read_body(settings.max_body_bytes, settings.body_timeout)
    data = _decode(body.rstrip(b"\0"))
    candles = data.get("candles") if isinstance(data, dict) else None
    if isinstance(candles, list) and len(candles) > settings.max_batch:
        detail = f"{len(candles)} candles in one batch; the limit is {settings.max_batch}"
        raise RejectedError(problem(413, detail))
    try:
        return validate_batch(data, settings.source_zone)
    except ValidationError as error:
        raise RejectedError(_invalid(error)) from None


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a valid JSON number")


def _decode(body: bytes) -> Any:
    try:
        return json.loads(body, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as error:
        raise RejectedError(problem(422, f"malformed JSON: {error}")) from None
    except ArithmeticError:  # decimal.InvalidOperation: an exponent Decimal cannot hold
        raise RejectedError(problem(422, "malformed JSON: a number out of range")) from None
    except RecursionError:
        raise RejectedError(problem(422, "malformed JSON: nested too deeply")) from None


def _invalid(error: ValidationError) -> Response:
    errors = [
        FieldError(loc=_location(e["loc"]), msg=e["msg"], type=e["type"])
        for e in error.errors(include_url=False, include_input=False)[:MAX_LISTED_ERRORS]
    ]
    detail = f"{error.error_count()} invalid value(s); nothing was stored"
    return problem(422, detail, errors=errors, error_count=error.error_count())


def _location(loc: tuple[int | str, ...]) -> str:
    """Render ('candles', 3, 'high') as candles[3].high."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def _on_conflict() -> OnConflict:
    value = request.args.get("on_conflict", OnConflict.IGNORE.value)
    try:
        return OnConflict(value)
    except ValueError:
        error = FieldError(loc="on_conflict", msg="must be ignore or update", type="enum")
        raise RejectedError(problem(422, "invalid on_conflict", errors=[error])) from None


def _write(batch: CandleBatch, settings: Settings, on_conflict: OnConflict) -> IngestResult:
    try:
        with bounded(_pool(), settings) as conn:
            result = CandleWriter(conn, on_conflict).write(batch.candles)
    except psycopg.Error as error:
        raise RejectedError(database_problem(error, settings)) from None
    updated = result.updated if on_conflict is OnConflict.UPDATE else None
    return IngestResult(
        received=result.received,
        records_added=result.added,
        records_updated=updated,
        duplicates=result.duplicates,
    )


def database_problem(error: psycopg.Error, settings: Settings) -> Response:
    """Translate a database failure into a problem response, logging it with the request id."""
    sqlstate = getattr(error, "sqlstate", None)
    log.warning(
        "database error %s: %s", sqlstate, type(error).__name__,
        extra={"request_id": g.get("request_id"), "sqlstate": sqlstate},
    )  # fmt: skip
    if isinstance(error, psycopg.errors.LockNotAvailable):
        return _unavailable(
            "these candles are locked by another writer (an import?); retry later", settings
        )
    if isinstance(error, psycopg.errors.QueryCanceled):
        return _unavailable("the database did not answer in time; retry later", settings)
    if isinstance(error, psycopg.OperationalError):
        return _unavailable("the database is unavailable; retry later", settings)
    if isinstance(error, psycopg.IntegrityError | psycopg.DataError):
        return problem(422, "the database refused a value in this batch; nothing was stored")
    if isinstance(error, psycopg.errors.InsufficientPrivilege):  # privileges or RLS
        log.error(
            "the database refused the service's role (a configuration error): %s",
            error.diag.message_primary,
            extra={"request_id": g.get("request_id"), "sqlstate": sqlstate},
        )
        return _unavailable(
            "configuration error: the service's database role may not do this; logged with "
            "this request's id",
            settings,
        )
    if isinstance(error, psycopg.errors.UndefinedTable):
        log.error("the schema is missing", extra={"request_id": g.get("request_id")})
        return _unavailable(
            "configuration error: the database has no candle table; run `candlesvc db init`",
            settings,
        )
    log.error("unexpected database error", exc_info=error, extra={"request_id": g.request_id})
    return problem(500, "The service failed to handle this request; it has been logged.")


def _unavailable(detail: str, settings: Settings) -> Response:
    return problem(503, detail, {"Retry-After": str(settings.retry_after)})


def _settings() -> Settings:
    settings: Settings = current_app.extensions["candlesvc.settings"]
    return settings


def _pool() -> ConnectionPool:
    pool: ConnectionPool = current_app.extensions["candlesvc.pool"]
    return pool
