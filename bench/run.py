"""The benchmark in one command: `.venv/bin/python -m bench.run [--quick] [--workers N]`.

Starts a private PostgreSQL and candlesvc under gunicorn, measures every way in against a
raw COPY of the same rows, prints one table, and writes bench/results/latest.{json,md}.
"""

import argparse
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from bench.backfill import backfill_figures
from bench.bulk import bulk_figures
from bench.candles import bars, candle_json
from bench.catalog import Catalogs
from bench.figures import Figure, judge
from bench.limit import Limit
from bench.loadgen import SENT
from bench.realtime import SingleSource, churn_figure, realtime_figures
from bench.report import markdown, markdown_table, notes, write_results
from bench.series import series_figures
from bench.stack import Stack, load_average, reset, run_command

RESULTS = Path(__file__).resolve().parent / "results"
_SUMMARY = "Measure candlesvc ingestion against a raw COPY into the same database."


@dataclass(frozen=True)
class Config:
    """Sizes of the default run, chosen to finish well inside 10 minutes on 2 cores."""

    rows: int = 160_000  # rows of the COPY limit, and of the HTTP bulk scenarios
    batches: tuple[tuple[int, int], ...] = ((100, 16_000), (1_000, 96_000), (10_000, 160_000))
    clients: tuple[int, ...] = (1, 4, 16)
    sequential: int = 2_000  # single-candle requests, one client
    per_client: int = 200  # single-candle requests per client, 16 clients
    churn: int = 100_000  # single-candle requests in all before the catalog is measured again
    churn_clients: int = 4
    churn_budget_s: float = 240.0  # the churn stops early rather than overrun this
    backfill_rows: int = 1_000_000
    backfill_rounds: int = 5  # rounds of \copy, import, import again: the speed drifts
    rss_rows: int = 5_000_000
    series: tuple[int, int, int] = (200, 52_500, 50)  # series, bars each (10M rows), reads
    workers: int | None = None  # gunicorn WEB_CONCURRENCY; None: as deployed
    quick: bool = False


QUICK = Config(
    rows=16_000,
    batches=((100, 3_200), (1_000, 16_000), (10_000, 16_000)),
    sequential=200,
    per_client=20,
    churn=2_000,
    churn_budget_s=30.0,
    backfill_rows=20_000,
    backfill_rounds=1,
    rss_rows=100_000,
    series=(20, 2_000, 10),
    quick=True,
)


def measure(stack: Stack, config: Config) -> tuple[list[Figure], dict[str, Any]]:
    """Run every scenario in order on one stack; return the judged figures and the records."""
    candles = list(bars(config.rows))
    limit = Limit(stack.url, candles)
    limit.warm_up()
    limit.measure()
    limit.measure(typed=False)
    catalogs = Catalogs(stack.url)
    bulk = _bulk_section(stack, config, [candle_json(bar, "EURUSD") for bar in candles], catalogs)
    limit.measure(typed=False)  # again after HTTP, in case the machine drifted
    singles, log = _single_section(stack, config, catalogs)
    backfill = backfill_figures(
        stack.url, stack.root, config.backfill_rows, config.rss_rows, config.backfill_rounds
    )
    catalogue = series_figures(stack, *config.series)
    # A new scenario goes here: a function of (stack, config) returning its Figures, its sizes
    # in Config, its target (if any) in bench.figures.TARGETS.
    figures = [*limit.figures(), *bulk, *singles, *catalogs.figures, *backfill, *catalogue]
    judge(figures, limit.best)
    return figures, {
        "limit_runs": {"text": limit.text_runs, "typed": limit.typed_runs},
        "catalog": catalogs.changes,
        "service_log": log,
    }


def _bulk_section(
    stack: Stack, config: Config, json_rows: list[str], catalogs: Catalogs
) -> list[Figure]:
    """HTTP bulk and re-send; then the catalogs, once the service's sessions have ended."""
    stack.start_service()
    figures = bulk_figures(stack, json_rows, config.batches, config.clients)
    stack.stop_service()  # its sessions end and flush their statistics
    requests = sum(f.requests or 0 for f in figures)
    catalogs.measure("catalog_bulk", "bulk", "bulk", requests, judged=False)
    return figures


def _single_section(
    stack: Stack, config: Config, catalogs: Catalogs
) -> tuple[list[Figure], dict[str, int]]:
    """EA real time and churn from an empty table; the catalogs; requests sent and logged."""
    reset(stack.url)
    stack.start_service()
    source = SingleSource(stack)
    figures = realtime_figures(source, config.sequential, config.per_client)
    figures.append(churn_figure(source, config.churn, config.churn_clients, config.churn_budget_s))
    stack.stop_service()
    log = {"requests_sent": SENT["requests"], "request_log_lines": stack.request_log_lines()}
    catalogs.measure("catalog", "single", "single-candle", source.sent, judged=True)
    return figures, log


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write its results; return the exit code."""
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=_SUMMARY)
    parser.add_argument("--quick", action="store_true", help="smoke run; figures not meaningful")
    parser.add_argument("--workers", type=int, help="WEB_CONCURRENCY (default: as deployed)")
    parser.add_argument(
        "--output",
        type=Path,
        help="results folder (default bench/results, or bench/results/quick with --quick)",
    )
    args = parser.parse_args(argv)
    config = replace(QUICK if args.quick else Config(), workers=args.workers)
    began, load = time.monotonic(), load_average()
    with Stack(config.workers) as stack:
        figures, results = measure(stack, config)
        results["machine"] = stack.machine() | {"load_average_start": load}
    results |= {"settings": asdict(config), "duration_s": round(time.monotonic() - began, 1)}
    results["notes"] = notes(results, figures)
    folder = args.output or (RESULTS / "quick" if args.quick else RESULTS)
    write_results(
        folder,
        "latest",
        results | {"figures": [asdict(f) for f in figures]},
        markdown(results, figures),
    )
    print(markdown_table(figures))
    print(f"\nwritten to {folder}/latest.json and latest.md in {results['duration_s']:.0f} s")
    return 0


if __name__ == "__main__":
    run_command(main)
