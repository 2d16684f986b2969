"""Gunicorn settings for candlesvc; every value can be overridden from the environment.

gevent workers serve each connection in a greenlet, so hundreds of idle or slow clients
hold no thread; a request's line and headers must arrive within the keep-alive time,
its body within BODY_TIMEOUT_MS (see candlesvc.service.worker). Validation is CPU work,
so the worker count follows the CPUs this process may use (affinity and cgroup quota),
not the host's cores. The hooks keep the workers' metrics in one private folder.
"""

import os
from typing import Any

from candlesvc.service import metricsdir
from candlesvc.service.cpus import usable_cpus

bind = os.environ.get("BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", 2 * usable_cpus()))
worker_class = "candlesvc.service.worker.Worker"
worker_connections = int(os.environ.get("GUNICORN_CONNECTIONS", "1000"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
max_requests = 10_000
max_requests_jitter = 1_000
preload_app = False  # each worker builds the app, so its connection pool opens after fork
accesslog = None  # the app writes one JSON line per request (logger candlesvc.request)
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
control_socket_disable = True  # no runtime control socket under $HOME: nothing to manage there


def on_starting(server: Any) -> None:
    """Before any worker forks: the folder where every worker keeps its metrics."""
    metricsdir.create()


def worker_exit(server: Any, worker: Any) -> None:
    """In a stopping worker: close its pool while gevent can still wait for the pool's threads."""
    from candlesvc.service.app import close  # not in the master: metrics pick their mode on import

    if app := getattr(worker, "wsgi", None):
        close(app)


def child_exit(server: Any, worker: Any) -> None:
    """A worker exited: its counters stay in the totals, its live gauges go."""
    metricsdir.worker_exited(worker.pid)


def on_exit(server: Any) -> None:
    """The master stops: remove the metrics folder."""
    metricsdir.remove()
