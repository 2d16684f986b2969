"""The gunicorn master's part of the metrics: the private folder its workers count in.

The master creates the folder before it forks any worker, and names it in
PROMETHEUS_MULTIPROC_DIR, which the workers inherit; prometheus_client reads that variable
when it is first imported, in the workers, after the fork. When a worker exits, its live
gauges are dropped and its counters kept; when the master stops, the folder goes.
"""

import os
import shutil
import tempfile

ENV = "PROMETHEUS_MULTIPROC_DIR"


def create() -> str:
    """A new, empty, private folder (under TMPDIR), named in this process's environment."""
    folder = tempfile.mkdtemp(prefix="candlesvc-metrics-")
    os.environ[ENV] = folder
    return folder


def worker_exited(pid: int) -> None:
    """Drop an exited worker's live gauges (connections in use, requests waiting)."""
    from prometheus_client import multiprocess  # here: only once the folder is named

    multiprocess.mark_process_dead(pid, os.environ[ENV])  # type: ignore[no-untyped-call]


def remove() -> None:
    """Remove the folder and its name."""
    folder = os.environ.pop(ENV, None)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
