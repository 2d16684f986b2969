"""The plain-language notes under the results table."""

from typing import Any

from bench.config import Config
from bench.figures import Figure


def notes(config: Config, results: dict[str, Any], figures: list[Figure]) -> list[str]:
    """What each figure means and how it was taken, with this run's counts."""
    found = [*_method(config, results), _backfill(config, figures),
             *_service(config, results, figures)]  # fmt: skip
    if config.rows < Config().rows:
        found.append("This was a --quick smoke run: its figures are not meaningful.")
    return found


def _method(config: Config, results: dict[str, Any]) -> list[str]:
    runs = results["limit_runs"]
    return [
        f"Limit: the fastest raw `COPY ... FROM STDIN` of the same {config.rows:,} rows into "
        "the empty indexed table from one psycopg connection, commit included: pre-encoded "
        f"text, {_rates(runs['text'])} (after a warm-up COPY, two runs before the HTTP "
        f"scenarios, one after); psycopg `write_row` of typed tuples, {_rates(runs['typed'])}.",
        "Each new-rows scenario starts from an empty table (TRUNCATE, CHECKPOINT); the re-send "
        "repeats the very same requests, so every candle is a duplicate.",
    ]


def _backfill(config: Config, figures: list[Figure]) -> str:
    by_key = {f.key: f for f in figures}
    imports = [by_key[key] for key in ("import_new", "import_again") if key in by_key]
    rounds = "; ".join(f"{f.scenario}: {f.note}" for f in imports if f.paired is not None)
    runs = "1 round" if config.backfill_rounds == 1 else f"{config.backfill_rounds} rounds"
    return (
        "Backfill: `candlesvc import` of a generated MT5 M1 export against `psql \\copy` of the "
        f"same rows as plain CSV, in rounds of \\copy, import, import again ({runs}): an "
        "import is judged by its median ratio to its own round's \\copy, since this "
        f"machine's speed drifts between runs. {rounds}. Peak RSS is summed over the "
        "importer and its worker processes (sampled from /proc every 0.1 s)."
    )


def _service(config: Config, results: dict[str, Any], figures: list[Figure]) -> list[str]:
    log, singles = results["service_log"], next(f for f in figures if f.key == "catalog")
    return [
        "Load generator: one process per client replays pre-encoded HTTP/1.1 requests "
        "(`sendall`, Content-Length parsing); its CPU share is CPU time / (wall x cores), at "
        f"most {max((f.client_cpu or 0.0) for f in figures):.1%} in this run.",
        f"gunicorn: {results['machine']['gunicorn']}, configured by candlesvc/gunicorn_conf.py. "
        f"{_connections(figures)}",
        f"The service wrote {log['request_log_lines']:,} JSON request-log lines for "
        f"{log['requests_sent']:,} requests sent (plus readiness probes).",
        f"Catalogs: {singles.scenario.split(', ')[-1]} (warm-up, sequential, 16 clients, then "
        f"{config.churn_clients}-client churn; the aim is {config.churn:,}, cut short only by "
        f"the {config.churn_budget_s:.0f} s churn budget). Every service session is closed "
        "before a snapshot, so its statistics are flushed. The bulk section's counts include "
        "the benchmark's own TRUNCATEs between scenarios.",
    ]


def _rates(rates: list[float]) -> str:
    return ", ".join(f"{rate:,.0f}" for rate in rates) + " rows/s"


def _connections(figures: list[Figure]) -> str:
    """Whether the server kept connections alive, from the clients' own counts."""
    counted = [f for f in figures if f.requests and f.connections]
    requests = sum(f.requests or 0 for f in counted)
    opened = sum(f.connections or 0 for f in counted)
    if opened >= requests:
        return (
            "It closed every connection after one response, so clients reconnected for "
            "each request; latencies include that TCP connect."
        )
    return f"Keep-alive held: {requests:,} requests over {opened:,} connections."
