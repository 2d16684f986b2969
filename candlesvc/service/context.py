"""What each request works with: the service's settings and a bounded database transaction."""

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import psycopg
from flask import Response, current_app, g
from psycopg_pool import ConnectionPool

from candlesvc.service.metrics import metrics
from candlesvc.service.problems import RejectedError, problem
from candlesvc.service.settings import Settings
from candlesvc.store.pool import bounded

log = logging.getLogger("candlesvc.api")


def settings() -> Settings:
    """The service's settings."""
    current: Settings = current_app.extensions["candlesvc.settings"]
    return current


def pool() -> ConnectionPool:
    """This worker's connection pool."""
    current: ConnectionPool = current_app.extensions["candlesvc.pool"]
    return current


@contextmanager
def checkout(timeout: float | None = None) -> Iterator[psycopg.Connection[Any]]:
    """A connection from this worker's pool, counted while awaited and while held."""
    counted = metrics()
    with ExitStack() as held:
        with counted.waiting.track_inprogress():
            conn = held.enter_context(pool().connection(timeout))
        held.enter_context(counted.in_use.track_inprogress())
        yield conn


@contextmanager
def database() -> Iterator[psycopg.Connection[Any]]:
    """A pooled connection in a bounded transaction; a database failure becomes a problem."""
    current = settings()
    try:
        with checkout() as conn, bounded(conn, current.lock_timeout, current.statement_timeout):
            yield conn
    except psycopg.Error as error:
        raise RejectedError(database_problem(error)) from None


def unavailable(detail: str) -> Response:
    """A 503 problem that says when to retry."""
    return problem(503, detail, {"Retry-After": str(settings().retry_after)})


def database_problem(error: psycopg.Error) -> Response:
    """Translate a database failure into a problem response, counting and logging it."""
    metrics().database_error(error)
    sqlstate = getattr(error, "sqlstate", None)
    log.warning(
        "database error %s: %s",
        sqlstate,
        type(error).__name__,
        extra={"request_id": g.get("request_id"), "sqlstate": sqlstate},
    )
    if isinstance(error, psycopg.errors.LockNotAvailable):
        return unavailable("these candles are locked by another writer (an import?); retry later")
    if isinstance(error, psycopg.errors.QueryCanceled):
        return unavailable("the database did not answer in time; retry later")
    if isinstance(error, psycopg.OperationalError):
        return unavailable("the database is unavailable; retry later")
    if isinstance(error, psycopg.IntegrityError | psycopg.DataError):
        return problem(422, "the database refused a value in this batch; nothing was stored")
    if isinstance(error, psycopg.errors.InsufficientPrivilege):  # privileges or RLS
        log.error(
            "the database refused the service's role (a configuration error): %s",
            error.diag.message_primary,
            extra={"request_id": g.get("request_id"), "sqlstate": sqlstate},
        )
        return unavailable(
            "configuration error: the service's database role may not do this; logged with "
            "this request's id"
        )
    if isinstance(error, psycopg.errors.UndefinedTable):
        log.error("the schema is missing", extra={"request_id": g.get("request_id")})
        return unavailable(
            "configuration error: the database has no candle table; run `candlesvc db init`"
        )
    log.error("unexpected database error", exc_info=error, extra={"request_id": g.request_id})
    return problem(500, "The service failed to handle this request; it has been logged.")
