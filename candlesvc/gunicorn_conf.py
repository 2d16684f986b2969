"""Gunicorn settings for candlesvc; every value can be overridden from the environment.

gthread workers keep client connections alive between requests and give each request
its own thread, so one slow client holds a thread, not a whole worker; request bodies
are additionally read under BODY_TIMEOUT_MS. Two workers per core with two threads each:
validation is CPU work under the GIL, so processes, not threads, use the cores (measured
by bench/: 2 workers x 4 threads ingested about a quarter less than 4 x 1 or 3 x 2 on 2 cores).
"""

import multiprocessing
import os

bind = os.environ.get("BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", 2 * multiprocessing.cpu_count()))
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
worker_class = "gthread"
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
