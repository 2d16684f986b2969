"""The soak: `.venv/bin/python -m bench.soak [--seconds 180] [--quick]`.

16 clients post new and re-sent batches to candlesvc under gunicorn for a few minutes while
PostgreSQL is restarted once at half time; then the table is checked against every 201,
worker memory is summarised, and bench/results/soak.{json,md} are written. Exits 1 if any
check fails.
"""

import argparse
import os
import time
from pathlib import Path
from typing import Any

from bench.loadgen import run_clients
from bench.report import say
from bench.soakcheck import verify
from bench.soakclient import RESEND_SHARE, soak_client
from bench.soakmd import markdown
from bench.soakreport import check_table, checks, write_results
from bench.soaksummary import batches_summary, memory_summary, requests_summary
from bench.soakwatch import Watch
from bench.stack import Stack, load_average, run_command

RESULTS = Path(__file__).resolve().parent / "results"
QUICK_SECONDS = 30.0
_SUMMARY = "Soak candlesvc: 16 clients, new and re-sent batches, PostgreSQL restarted once."


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=_SUMMARY)
    parser.add_argument("--seconds", type=float, default=180.0, help="load time (default 180)")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SECONDS:.0f} s smoke run")
    parser.add_argument("--clients", type=int, default=16, help="client processes (default 16)")
    parser.add_argument("--output", type=Path, help="results folder (default bench/results, or "
                        "bench/results/quick with --quick)")  # fmt: skip
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the soak and write its results; return the exit code."""
    args = parse_args(argv)
    seconds = QUICK_SECONDS if args.quick else args.seconds
    began, load = time.monotonic(), load_average()
    with Stack() as stack:
        results = soak(stack, seconds, args.clients)
    results["machine"]["load_average_start"] = load
    results["duration_s"] = round(time.monotonic() - began, 1)
    results["checks"] = checks(results)
    folder = args.output or (RESULTS / "quick" if args.quick else RESULTS)
    write_results(folder, results, markdown(results))
    print(check_table(results))
    print(f"\nwritten to {folder}/soak.json and soak.md in {results['duration_s']:.0f} s")
    return 0 if all(results["checks"].values()) else 1


def soak(stack: Stack, seconds: float, clients: int) -> dict[str, Any]:
    """Load, restart and sample; then stop the service and check the table."""
    stack.start_service()
    watch = Watch(stack, restart_at=seconds / 2)
    say(f"soak: {clients} clients for {seconds:.0f} s")
    args = [(c, stack.port, stack.api_key, seconds) for c in range(clients)]
    stats = run_clients(soak_client, args, on_start=watch.start)
    watch.finish()
    wall = max(s.finished for s in stats) - watch.began
    stack.stop_service()  # graceful: any request still in flight ends before the table is read
    say(f"clients done after {wall:.0f} s; checking the table")
    return {
        "settings": {"seconds": seconds, "clients": clients, "resend_share": RESEND_SHARE,
                     "batch_sizes": [1, 100, 1000], "wall_s": round(wall, 1)},
        "machine": stack.machine(),
        "restart": {k: round(v, 2) for k, v in watch.restart.items()},
        "requests": requests_summary(stats, watch.began, seconds),
        "batches": batches_summary(stats),
        "table": verify(stack.url, stats),
        "memory": memory_summary(watch.samples, warm_s=min(30.0, seconds / 5)),
        "client_cpu_share": round(sum(s.cpu for s in stats) / (wall * (os.cpu_count() or 1)), 3),
        "service_log_errors": _error_lines(stack.log_path),
    }  # fmt: skip


def _error_lines(log: Path) -> int:
    """Lines of the service's log at level error or critical (gunicorn's or candlesvc's)."""
    marks = (b'"level": "error"', b'"level": "critical"', b"[ERROR]", b"[CRITICAL]")
    with log.open("rb") as lines:
        return sum(any(mark in line for mark in marks) for line in lines)


if __name__ == "__main__":
    run_command(main)
