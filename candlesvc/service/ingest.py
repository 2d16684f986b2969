"""HTTP endpoints: parse, validate, call the writer, translate errors."""

import json
import logging
from decimal import Decimal
from typing import Any

import psycopg
from flask import Blueprint, Response, g, jsonify, request
from pydantic import ValidationError

from candlesvc.model.candle import CandleBatch, IngestResult, validate_batch
from candlesvc.service.body import read_body
from candlesvc.service.context import checkout, database, settings
from candlesvc.service.metrics import metrics
from candlesvc.service.openapi import openapi_document
from candlesvc.service.problems import FieldError, RejectedError, field_errors, problem
from candlesvc.service.settings import Settings
from candlesvc.store.access import write_access
from candlesvc.store.writer import CandleWriter, OnConflict

bp = Blueprint("candles", __name__)
log = logging.getLogger("candlesvc.api")
MAX_LISTED_ERRORS = 100


@bp.post("/api/v1/candles")
def ingest() -> tuple[Response, int]:
    """Validate a batch of candles and store the new ones."""
    on_conflict = _on_conflict()
    batch = _read_batch(settings())
    g.received = len(batch.candles)
    result = _write(batch, on_conflict)
    g.added, g.duplicates = result.records_added, result.duplicates
    metrics().batch(result)
    return jsonify(result.model_dump(exclude_none=True)), 201


@bp.get("/health")
def health() -> Response:
    """The process is alive."""
    return jsonify(status="ok")


@bp.get("/health/ready")
def ready() -> Response | tuple[Response, int]:
    """The database answers, and the service's role may write candles."""
    try:
        with checkout(timeout=2) as conn:
            access = write_access(conn)
    except psycopg.Error as error:
        metrics().database_error(error)
        return jsonify(status="unavailable", database="unreachable"), 503
    if not access.ok:
        log.error(access.reason())
        return jsonify(status="unavailable", database="cannot write"), 503
    return jsonify(status="ok", database="ok")


@bp.get("/openapi.json")
def openapi() -> Response:
    """The API description."""
    return jsonify(openapi_document())


def _read_batch(current: Settings) -> CandleBatch:
    if request.mimetype != "application/json":
        raise RejectedError(problem(415, "send the batch as Content-Type: application/json"))
    body = read_body(current.max_body_bytes, current.body_timeout)
    data = _decode(body.rstrip(b"\0"))
    candles = data.get("candles") if isinstance(data, dict) else None
    if isinstance(candles, list) and len(candles) > current.max_batch:
        detail = f"{len(candles)} candles in one batch; the limit is {current.max_batch}"
        raise RejectedError(problem(413, detail))
    try:
        return validate_batch(data, current.source_zone)
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
    errors = field_errors(error, MAX_LISTED_ERRORS)
    detail = f"{error.error_count()} invalid value(s); nothing was stored"
    return problem(422, detail, errors=errors, error_count=error.error_count())


def _on_conflict() -> OnConflict:
    value = request.args.get("on_conflict", OnConflict.IGNORE.value)
    try:
        return OnConflict(value)
    except ValueError:
        error = FieldError(loc="on_conflict", msg="must be ignore or update", type="enum")
        raise RejectedError(problem(422, "invalid on_conflict", errors=[error])) from None


def _write(batch: CandleBatch, on_conflict: OnConflict) -> IngestResult:
    with database() as conn:
        result = CandleWriter(conn, on_conflict).write(batch.candles)
    updated = result.updated if on_conflict is OnConflict.UPDATE else None
    return IngestResult(
        received=result.received,
        records_added=result.added,
        records_updated=updated,
        duplicates=result.duplicates,
    )
