"""The soak's README-ready Markdown section."""

from typing import Any

from bench.soakreport import COMMAND, check_table, worker_table


def markdown(results: dict[str, Any]) -> str:
    """Command, what it does, the machine, the checks, worker memory and notes."""
    s = results["settings"]
    parts = [
        "## Soak", "", "```sh",
        f"{COMMAND}   # about {_minutes(results['duration_s'])}; --seconds N; "
        "--quick: 30 s smoke run", "```", "",
        f"{s['clients']} client processes post to candlesvc under gunicorn as deployed for "
        f"{s['seconds']:.0f} s over keep-alive connections: {1 - s['resend_share']:.0%} new "
        f"batches, {s['resend_share']:.0%} re-sends of the client's own earlier batches, "
        "of 1, 100 or 1,000 candles, each batch fully determined by (client, batch number). "
        "At half time PostgreSQL is restarted (`pg_ctl stop -m fast`, then start) while they "
        "keep posting; like an EA, a client re-sends the same batch after a 503 (waiting "
        "Retry-After) or a lost connection. At the end the service is stopped and the table "
        "is compared with the batches answered 201: row count, rows lost or extra, and an md5 "
        "over every row's text (`symbol|timeframe|epoch|open|high|low|close|volume`, prices "
        "without trailing zeros, in key order) computed by PostgreSQL and by the benchmark. "
        "Worker RSS is sampled every 2 s. It writes `bench/results/soak.json` and `soak.md` "
        "and exits 1 if a check fails.", "",
        _machine(results["machine"], results["checks"]), "",
        check_table(results), "", worker_table(results["memory"]), "",
        *[f"- {note}" for note in _notes(results)],
    ]  # fmt: skip
    return "\n".join(parts) + "\n"


def _minutes(seconds: float) -> str:
    return "1 minute" if seconds < 90 else f"{seconds / 60:.0f} minutes"


def _machine(m: dict[str, str], checks: dict[str, bool]) -> str:
    failed = [name for name, ok in checks.items() if not ok]
    verdict = f"Checks passed: {len(checks) - len(failed)} of {len(checks)}." + (
        f" Failed: {'; '.join(failed)}." if failed else ""
    )
    return (
        f"Latest run: {m['date']}, {m['cpu']}, {m['cores']} cores, {m['ram']} RAM, {m['os']}, "
        f"PostgreSQL {m['postgresql']}, Python {m['python']}, gunicorn {m['gunicorn']}; "
        f"load average (1/5/15 min) {m['load_average_start']} at the start, "
        f"{m['load_average']} at the end. {verdict}"
    )


def _notes(results: dict[str, Any]) -> list[str]:
    req, tab, mem = results["requests"], results["table"], results["memory"]
    rows_per_s = tab["rows_stored"] / results["settings"]["wall_s"]
    return [
        f"{req['requests']:,} requests in {results['settings']['wall_s']:.0f} s; "
        f"{tab['rows_stored']:,} rows stored ({rows_per_s:,.0f}/s on average, restart included); "
        f"load-generator CPU {results['client_cpu_share']:.1%} of the machine.",
        _outage(results["restart"], req),
        f"Worker RSS flat means end ≤ 1.2x the RSS {mem['warm_up_s']:.0f} s after the worker "
        f"started; gunicorn recycles a worker after max_requests (10,000 ± 1,000): "
        f"{mem['recycled']} recycled here.",
        f"Error-level lines in the service log: {results['service_log_errors']} (503s log "
        "warnings).",
    ]


def _outage(restart: dict[str, float], req: dict[str, Any]) -> str:
    """What the clients saw around the restart."""
    if not restart:
        return "PostgreSQL was not restarted."
    back = restart["at_s"] + restart["stop_s"] + restart["start_s"]
    quiet = req["longest_without_201_s"]
    waited = req["503_after_1s_wait"]
    return (
        f"PostgreSQL was down from {restart['at_s']:.1f} to {back:.1f} s. "
        f"{req['statuses'].get('503', 0) - waited} 503(s) came at once and {waited} after "
        f"waiting over 1 s for a pooled connection (POOL_TIMEOUT_MS, 5 s as deployed); "
        f"the last 503 was answered at {req['last_503_s']} s. Clients wait Retry-After (5 s) "
        f"before re-sending; no request was acknowledged from {quiet[0]} to {quiet[1]} s."
    )
