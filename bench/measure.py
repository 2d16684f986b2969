"""Every scenario, in order, on one stack: the figures and what the results record."""

from typing import Any

from bench.backfill import backfill_figures
from bench.bulk import bulk_figures
from bench.candles import bars, candle_json, copy_row
from bench.catalog import catalog_figure, compare, snapshot
from bench.config import Config
from bench.dbops import copy_rate, reset, server_version
from bench.figures import Figure
from bench.loadgen import SENT
from bench.machine import machine_info
from bench.notes import notes
from bench.singles import SingleSource, churn, realtime_figures
from bench.stack import Stack
from bench.targets import judge


def measure(stack: Stack, config: Config) -> tuple[list[Figure], dict[str, Any]]:
    """Run every scenario; return the figures (judged) and the rest of the results."""
    candles = list(bars(config.rows))
    copy_rows = [copy_row(bar, "EURUSD") for bar in candles]
    limit = max(copy_rate(stack.url, copy_rows) for _ in range(2))
    figures = [Figure("limit", "Limit: COPY FROM STDIN, 1 connection, no HTTP", limit, ratio=1.0,
                      note=f"best of 2 COPYs of {config.rows:,} rows")]  # fmt: skip
    json_rows = [candle_json(bar, "EURUSD") for bar in candles]
    del candles, copy_rows
    figures += bulk_figures(stack, json_rows, limit, config.batches, config.clients)
    single_figures, catalog = _single_candles(stack, config)
    figures += single_figures
    logged, sent = stack.request_log_lines(), SENT["requests"]
    figures += backfill_figures(stack.url, stack.root, config.backfill_rows, config.rss_rows, limit)
    judge(figures)
    results: dict[str, Any] = {
        "machine": machine_info(server_version(stack.url), stack.gunicorn_settings()),
        "catalog": catalog,
        "service_log": {"requests_sent": sent, "request_log_lines": logged},
    }
    results["notes"] = notes(config, results, figures)
    return figures, results


def _single_candles(stack: Stack, config: Config) -> tuple[list[Figure], dict[str, Any]]:
    """Latency and churn of single-candle requests, between two catalog snapshots."""
    reset(stack.url)
    stack.stop_service()  # its sessions end and flush their statistics
    before = snapshot(stack.url)
    stack.start_service()
    source = SingleSource(stack)
    figures = realtime_figures(source, config.sequential, config.per_client)
    figures.append(churn(source, config.churn, config.churn_clients, config.churn_budget_s))
    stack.stop_service()
    after = snapshot(stack.url)
    figures.append(catalog_figure(before, after, source.sent))
    return figures, compare(before, after)
