"""The benchmark in one command: `.venv/bin/python -m bench.run [--quick]`.

Starts a private PostgreSQL and candlesvc under gunicorn, measures every way in against a
raw COPY of the same rows, prints one table, and writes bench/results/latest.{json,md}.
"""

import argparse
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from bench.config import QUICK, Config
from bench.measure import measure
from bench.report import markdown_table, write_results
from bench.stack import Stack
from bench.tools import exit_on_sigterm, load_average, run_command

RESULTS = Path(__file__).resolve().parent / "results"
_SUMMARY = "Measure candlesvc ingestion against a raw COPY into the same database."


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=_SUMMARY)
    parser.add_argument("--quick", action="store_true", help="smoke run; figures not meaningful")
    parser.add_argument("--workers", type=int, help="WEB_CONCURRENCY (default: as deployed)")
    parser.add_argument("--output", type=Path, help="results folder (default bench/results, or "
                        "bench/results/quick with --quick)")  # fmt: skip
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write its results; return the exit code."""
    args = parse_args(argv)
    config: Config = QUICK if args.quick else Config()
    config = replace(config, workers=args.workers)
    exit_on_sigterm()
    began, load = time.monotonic(), load_average()
    with Stack(config.workers) as stack:
        figures, measured = measure(stack, config)
    measured["machine"]["load_average_start"] = load
    results: dict[str, Any] = {**measured, "settings": asdict(config),
                               "duration_s": round(time.monotonic() - began, 1)}  # fmt: skip
    folder = args.output or (RESULTS / "quick" if args.quick else RESULTS)
    write_results(folder, results, figures)
    print(markdown_table(figures))
    print(f"\nwritten to {folder}/latest.json and latest.md in {results['duration_s']:.0f} s")
    return 0


if __name__ == "__main__":
    run_command(main)
