"""What the metrics cost: the work they add to one request, and a scrape as worker files pile up.

Runs as gunicorn's workers do, in prometheus_client's multiprocess mode (files in a
temporary folder); no database or server is involved. `python -m bench.metricscost`.
"""

import os
import statistics
import tempfile
import time
from collections.abc import Callable

RUNS, CALLS = 7, 20_000
DEAD_WORKERS = (0, 100, 1_000)


def main() -> None:
    """Print the added cost per request, then the cost of a scrape by dead workers' files."""
    with tempfile.TemporaryDirectory() as folder:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder  # before prometheus_client loads
        from flask import Flask, Response

        from candlesvc.model.candle import IngestResult
        from candlesvc.service import metrics as installed
        from candlesvc.service.metrics import _count, metrics

        app = Flask(__name__)
        installed.install(app)
        app.add_url_rule("/api/v1/candles", "ingest", lambda: "", methods=["POST"])
        result = IngestResult(received=1, records_added=1, duplicates=0)
        with app.test_request_context("/api/v1/candles", method="POST"):
            counted = metrics()

            def one_request() -> None:
                with counted.waiting.track_inprogress():
                    pass
                with counted.in_use.track_inprogress():
                    counted.batch(result)
                _count(Response(status=201))

            def bare_response() -> None:
                Response(status=201)

            added = per_call(one_request) - per_call(bare_response)
            print(f"added per single-candle POST: {added * 1e6:.1f} µs (median of {RUNS} runs)")
            left = 0
            for dead in DEAD_WORKERS:
                leave_dead_workers(dead - left)
                left = dead
                print(f"scrape with {dead:>5} dead workers' files: {scrape_ms():7.1f} ms")


def per_call(work: Callable[[], None]) -> float:
    """Seconds per call of work: the median of RUNS runs of CALLS calls."""
    runs = []
    for _ in range(RUNS):
        started = time.perf_counter()
        for _ in range(CALLS):
            work()
        runs.append((time.perf_counter() - started) / CALLS)
    return statistics.median(runs)


def leave_dead_workers(count: int) -> None:
    """Fork `count` workers that each count a few requests and exit, as recycled workers do."""
    from prometheus_client import multiprocess

    from candlesvc.service.metrics import Metrics

    for _ in range(count):
        pid = os.fork()
        if pid == 0:
            worker = Metrics()
            for endpoint in ("/api/v1/candles", "/api/v1/candles/latest", "/health"):
                worker.requests.labels(endpoint, "GET", "200").inc()
                worker.duration.labels(endpoint, "GET").observe(0.002)
            os._exit(0)
        os.waitpid(pid, 0)
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def scrape_ms() -> float:
    """Milliseconds to sum every worker's files and encode them: the median of 5."""
    from prometheus_client.exposition import generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    source = MultiProcessCollector(None)  # type: ignore[no-untyped-call]
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        generate_latest(source)
        runs.append(time.perf_counter() - started)
    return statistics.median(runs) * 1000


if __name__ == "__main__":
    main()
