"""Every scenario, in order, on one stack: the figures and what the results record."""

from typing import Any

from bench.backfill import backfill_figures
from bench.bulk import bulk_figures
from bench.candles import bars, candle_json
from bench.catalog import CatalogStat, catalog_figure, compare, snapshot
from bench.config import Config
from bench.dbops import reset, server_version
from bench.figures import Figure, apply_limit
from bench.limit import LimitProbe
from bench.loadgen import SENT
from bench.machine import machine_info
from bench.notes import notes
from bench.singles import SingleSource, churn, realtime_figures
from bench.stack import Stack
from bench.targets import judge


def measure(stack: Stack, config: Config) -> tuple[list[Figure], dict[str, Any]]:
    """Run every scenario; return the figures (judged) and the rest of the results."""
    limit, json_rows = _limit(stack, config)
    start = snapshot(stack.url)
    bulk, after_bulk = _bulk_section(stack, config, json_rows)
    limit.measure(typed=False)  # again after HTTP, in case the machine drifted
    singles, singles_sent, after_singles = _single_section(stack, config)
    log = {"requests_sent": SENT["requests"], "request_log_lines": stack.request_log_lines()}
    figures = [
        *limit.figures(), *bulk, *singles,
        catalog_figure("catalog_bulk", "bulk", start, after_bulk, bulk_requests(bulk), False),
        catalog_figure("catalog", "single-candle", after_bulk, after_singles, singles_sent, True),
        *backfill_figures(stack.url, stack.root, config.backfill_rows, config.rss_rows,
                          config.backfill_rounds),
    ]  # fmt: skip
    apply_limit(figures, limit.best)
    judge(figures)
    catalog = {"bulk": compare(start, after_bulk), "single": compare(after_bulk, after_singles)}
    return figures, _results(stack, config, figures, limit, catalog, log)


def _limit(stack: Stack, config: Config) -> tuple[LimitProbe, list[str]]:
    """The limit's first runs, and the same rows as JSON candles for the HTTP scenarios."""
    candles = list(bars(config.rows))
    limit = LimitProbe(stack.url, candles)
    limit.warm_up()
    limit.measure()
    limit.measure(typed=False)
    return limit, [candle_json(bar, "EURUSD") for bar in candles]


def _results(
    stack: Stack, config: Config, figures: list[Figure], limit: LimitProbe,
    catalog: dict[str, Any], log: dict[str, int],
) -> dict[str, Any]:  # fmt: skip
    results: dict[str, Any] = {
        "machine": machine_info(server_version(stack.url), stack.gunicorn_settings()),
        "limit_runs": {"text": limit.text_runs, "typed": limit.typed_runs},
        "catalog": catalog,
        "service_log": log,
    }
    results["notes"] = notes(config, results, figures)
    return results


def bulk_requests(figures: list[Figure]) -> int:
    """Requests sent by the bulk and re-send scenarios."""
    return sum(f.requests or 0 for f in figures)


def _bulk_section(
    stack: Stack, config: Config, json_rows: list[str]
) -> tuple[list[Figure], dict[str, CatalogStat]]:
    stack.start_service()
    figures = bulk_figures(stack, json_rows, config.batches, config.clients)
    stack.stop_service()  # its sessions end and flush their statistics
    return figures, snapshot(stack.url)


def _single_section(
    stack: Stack, config: Config
) -> tuple[list[Figure], int, dict[str, CatalogStat]]:
    """Latency and churn of single-candle requests; how many were sent; the catalog after."""
    reset(stack.url)
    stack.start_service()
    source = SingleSource(stack)
    figures = realtime_figures(source, config.sequential, config.per_client)
    figures.append(churn(source, config.churn, config.churn_clients, config.churn_budget_s))
    stack.stop_service()
    return figures, source.sent, snapshot(stack.url)
