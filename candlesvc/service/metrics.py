"""The service's Prometheus metrics, counted per request and summed over gunicorn's workers.

Under gunicorn, the master names a private folder in PROMETHEUS_MULTIPROC_DIR before it
forks (see metricsdir.py): each worker then keeps its figures in files there, and any worker
answering a scrape sums every worker's files, the dead ones' counters included. Without it
(Flask's test client, one process), the figures live in this app's own registry.
"""

import os
import time

import psycopg
from flask import Flask, Response, current_app, g, request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from psycopg_pool import PoolTimeout

from candlesvc.model.candle import IngestResult

# From a single candle (about 1 ms) to a batch of 10,000 and a database that stalls.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"  # the endpoint label of a request no route matched (a 404 or 405)
# Database errors by kind, the first class that matches; anything else is "other".
ERROR_KINDS: tuple[tuple[type[psycopg.Error], str], ...] = (
    (PoolTimeout, "pool_timeout"),
    (psycopg.errors.LockNotAvailable, "lock_timeout"),
    (psycopg.errors.QueryCanceled, "statement_timeout"),
    (psycopg.OperationalError, "unavailable"),
    (psycopg.IntegrityError, "refused_value"),
    (psycopg.DataError, "refused_value"),
    (psycopg.errors.InsufficientPrivilege, "privilege"),
    (psycopg.errors.UndefinedTable, "no_table"),
)


class Metrics:
    """The instruments every worker counts with."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.source: Collector = registry
        if shared := os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            self.source = MultiProcessCollector(None, shared)  # type: ignore[no-untyped-call]
        self.requests = Counter(
            "candlesvc_http_requests",
            "Requests answered, by route, method and status.",
            ["endpoint", "method", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "candlesvc_http_request_duration_seconds",
            "Time from a request's head to its answer, by route and method.",
            ["endpoint", "method"],
            buckets=BUCKETS,
            registry=registry,
        )
        self.received, self.added, self.duplicates, self.updated = (
            Counter(f"candlesvc_candles_{name}", text, registry=registry)
            for name, text in (
                ("received", "Candles in stored batches (the answers' received)."),
                ("added", "Candles stored as new (records_added)."),
                ("duplicates", "Candles already stored or repeated in a batch (duplicates)."),
                ("updated", "Stored candles corrected with on_conflict=update (records_updated)."),
            )
        )
        self.in_use, self.waiting = (
            Gauge(name, text, multiprocess_mode="livesum", registry=registry)
            for name, text in (
                ("candlesvc_pool_connections_in_use", "Pooled connections held by requests."),
                ("candlesvc_pool_requests_waiting", "Requests waiting for a pooled connection."),
            )
        )
        self.database_errors = Counter(
            "candlesvc_database_errors",
            "Database failures, by kind.",
            ["kind"],
            registry=registry,
        )
        for kind in sorted({kind for _, kind in ERROR_KINDS} | {"other"}):
            self.database_errors.labels(kind)

    def batch(self, result: IngestResult) -> None:
        """Count a stored batch's candles, as its answer counts them."""
        self.received.inc(result.received)
        self.added.inc(result.records_added)
        self.duplicates.inc(result.duplicates)
        self.updated.inc(result.records_updated or 0)

    def database_error(self, error: psycopg.Error) -> None:
        """Count a database failure by its kind."""
        kind = next((kind for cls, kind in ERROR_KINDS if isinstance(error, cls)), "other")
        self.database_errors.labels(kind).inc()


def install(app: Flask) -> None:
    """Give the app its metrics, and count every request it answers."""
    app.extensions["candlesvc.metrics"] = Metrics()
    app.after_request(_count)


def metrics() -> Metrics:
    """This app's metrics."""
    current: Metrics = current_app.extensions["candlesvc.metrics"]
    return current


def _count(response: Response) -> Response:
    """Count the request by its route (never its path), method and status, and time it."""
    rule = request.url_rule
    endpoint = rule.rule if rule is not None else UNMATCHED
    method = request.method if request.method in METHODS else "other"
    current = metrics()
    current.requests.labels(endpoint, method, str(response.status_code)).inc()
    seconds = time.perf_counter() - g.get("started", time.perf_counter())
    current.duration.labels(endpoint, method).observe(seconds)
    return response
