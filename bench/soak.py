"""The soak: `.venv/bin/python -m bench.soak [--seconds 180] [--clients 16] [--quick]`.

16 client processes post new and re-sent batches to candlesvc under gunicorn while
PostgreSQL is restarted once, at half time; then the table is checked against every 201
(row count, rows lost or extra, an md5 over every row), worker RSS is summarised, and
bench/results/soak.{json,md} are written. Exits 1 if any check fails.
"""

import argparse
import hashlib
import json
import os
import random
import signal
import threading
import time
import traceback
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import psycopg

from bench.candles import START, Bar, bars, candle_json, http_request
from bench.loadgen import HttpConnection, percentile, run_clients
from bench.report import intro, machine_line, say, write_results
from bench.stack import Stack, load_average, rss_kib, run_command

RESULTS = Path(__file__).resolve().parent / "results"
QUICK_SECONDS = 30.0
SIZES = (1, 100, 1_000)  # candles per batch, drawn with equal odds
RESEND_SHARE = 0.3  # share of a client's batches that re-send one of its acknowledged batches
GRACE_S = 60.0  # after time is up, a batch being retried may still take this long
CONN_ERROR = -1  # the status recorded when no response came back
SAMPLE_EVERY_S = 2.0  # worker RSS sampling period
FLAT = 1.2  # a worker is flat if its last RSS is at most this times its RSS after warm-up
_EXPECTED = {"201", "503", "connection error"}
_EPOCH = int(START.timestamp())
_SUMMARY = "Soak candlesvc: 16 clients, new and re-sent batches, PostgreSQL restarted once."


def main(argv: list[str] | None = None) -> int:
    """Run the soak and write its results; return the exit code."""
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=_SUMMARY)
    parser.add_argument("--seconds", type=float, default=180.0, help="load time (default 180)")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SECONDS:.0f} s smoke run")
    parser.add_argument("--clients", type=int, default=16, help="client processes (default 16)")
    parser.add_argument(
        "--output",
        type=Path,
        help="results folder (default bench/results, or bench/results/quick with --quick)",
    )
    args = parser.parse_args(argv)
    seconds = QUICK_SECONDS if args.quick else args.seconds
    began, load = time.monotonic(), load_average()
    with Stack() as stack:
        results = soak(stack, seconds, args.clients)
    results["machine"]["load_average_start"] = load
    results["duration_s"] = round(time.monotonic() - began, 1)
    results["checks"] = checks(results)
    folder = args.output or (RESULTS / "quick" if args.quick else RESULTS)
    write_results(folder, "soak", results, markdown(results))
    print(check_table(results))
    print(f"\nwritten to {folder}/soak.json and soak.md in {results['duration_s']:.0f} s")
    return 0 if all(results["checks"].values()) else 1


def soak(stack: Stack, seconds: float, clients: int) -> dict[str, Any]:
    """Load, restart and sample; then stop the service and check the table."""
    stack.start_service()
    watch = Watch(stack, restart_at=seconds / 2)
    say(f"soak: {clients} clients for {seconds:.0f} s")
    args = [(c, stack.port, stack.api_key, seconds) for c in range(clients)]
    stats: list[SoakStats] = run_clients(soak_client, args, on_start=watch.start)
    watch.finish()
    wall = max(s.finished for s in stats) - watch.began
    stack.stop_service()  # graceful: any request still in flight ends before the table is read
    say(f"clients done after {wall:.0f} s; checking the table")
    return {
        "settings": {
            "seconds": seconds,
            "clients": clients,
            "resend_share": RESEND_SHARE,
            "batch_sizes": list(SIZES),
            "wall_s": round(wall, 1),
        },
        "machine": stack.machine(),
        "restart": {k: round(v, 2) for k, v in watch.restart.items()},
        "requests": requests_summary(stats, watch.began, seconds),
        "batches": batches_summary(stats),
        "table": verify(stack.url, stats),
        "memory": memory_summary(watch.samples, warm_s=min(30.0, seconds / 5)),
        "client_cpu_share": round(sum(s.cpu for s in stats) / (wall * (os.cpu_count() or 1)), 3),
        "service_log_errors": _error_lines(stack.log_path),
    }


def _error_lines(log: Path) -> int:
    """Lines of the service's log at level error or critical (gunicorn's or candlesvc's)."""
    marks = (b'"level": "error"', b'"level": "critical"', b"[ERROR]", b"[CRITICAL]")
    with log.open("rb") as lines:
        return sum(any(mark in line for mark in marks) for line in lines)


# Batches: client c posts symbol SOAKcc; its batch n holds size(c, n) consecutive M1 bars
# starting right after batch n-1's, so batches never overlap and the table can be rebuilt.


def symbol(client: int) -> str:
    """The symbol client `client` posts."""
    return f"SOAK{client:02d}"


def size(client: int, number: int) -> int:
    """How many candles batch `number` of `client` holds."""
    return random.Random(client << 32 | number).choice(SIZES)


@dataclass
class Layout:
    """Where each of one client's batches starts, in minutes after START."""

    client: int
    starts: list[int] = field(default_factory=lambda: [0])

    def start(self, number: int) -> int:
        """The first minute of batch `number`."""
        while len(self.starts) <= number:
            last = len(self.starts) - 1
            self.starts.append(self.starts[last] + size(self.client, last))
        return self.starts[number]

    def bars(self, number: int) -> Iterator[Bar]:
        """The bars of batch `number`."""
        seed = self.client << 32 | number
        return bars(size(self.client, number), self.start(number), seed=seed)

    def request(self, host: str, api_key: str, number: int) -> bytes:
        """Batch `number` as a complete HTTP request."""
        name = symbol(self.client)
        return http_request(host, api_key, [candle_json(b, name) for b in self.bars(number)])

    def rows(self, numbers: Iterable[int]) -> Iterator[str]:
        """The batches' rows as checksum text (see _ROW), in timestamp order."""
        name = symbol(self.client)
        for number in sorted(set(numbers)):
            for b in self.bars(number):
                prices = "|".join(
                    p.rstrip("0").rstrip(".") for p in (b.open, b.high, b.low, b.close)
                )
                yield f"{name}|M1|{_EPOCH + 60 * b.minute}|{prices}|{b.volume}"


# The client: like an EA, it retries the same batch after a 503 (waiting Retry-After
# seconds) or a lost connection; any other status is recorded and the batch given up.


@dataclass
class SoakStats:
    """What one client sent and saw; `requests` holds (monotonic start, seconds, status)."""

    client: int
    requests: list[tuple[float, float, int]] = field(default_factory=list)
    acked: list[int] = field(default_factory=list)  # new batches answered 201
    unacked: list[int] = field(default_factory=list)  # new batches given up
    resends: int = 0
    resend_added: int = 0  # rows a re-send stored: each had been acknowledged, then lost
    added: int = 0  # records_added over every 201
    early: int = 0  # new batches found (partly) stored already: an earlier try did commit
    unexpected: str = ""  # the first response other than 201 or 503
    connects: int = 0
    cpu: float = 0.0
    finished: float = 0.0  # monotonic time the last batch ended
    crashed: str = ""


def soak_client(
    client: int, port: int, api_key: str, seconds: float, barrier: Any, queue: Any
) -> None:
    """Post batches for `seconds` after every client is ready; put the SoakStats on `queue`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    stats = SoakStats(client)
    conn = HttpConnection(port, 60.0)
    barrier.wait(timeout=60)
    cpu = time.process_time()
    try:
        _post_batches(stats, conn, (f"127.0.0.1:{port}", api_key), time.monotonic() + seconds)
    except Exception:
        stats.crashed = traceback.format_exc(limit=5)
    conn.close()
    stats.finished = time.monotonic()
    stats.cpu, stats.connects = time.process_time() - cpu, conn.connects
    queue.put(stats)


def _post_batches(
    stats: SoakStats, conn: HttpConnection, target: tuple[str, str], deadline: float
) -> None:
    layout, draw = Layout(stats.client), random.Random(stats.client)
    while time.monotonic() < deadline:
        resend = bool(stats.acked) and draw.random() < RESEND_SHARE
        number = draw.choice(stats.acked) if resend else len(stats.acked) + len(stats.unacked)
        answer = _deliver(stats, conn, layout.request(*target, number), deadline + GRACE_S)
        if resend:
            stats.resends += 1
            stats.resend_added += answer["records_added"] if answer else 0
        elif answer is None:
            stats.unacked.append(number)
        else:
            stats.acked.append(number)
            stats.early += answer["records_added"] < size(stats.client, number)
        stats.added += answer["records_added"] if answer else 0


def _deliver(
    stats: SoakStats, conn: HttpConnection, request: bytes, give_up: float
) -> dict[str, int] | None:
    """Send until 201 (its answer), a status not worth retrying, or `give_up` (None)."""
    while time.monotonic() < give_up:
        began = time.monotonic()
        try:
            status, body = conn.exchange(request)
        except OSError:
            conn.close()
            status, body = CONN_ERROR, b""
        stats.requests.append((began, time.monotonic() - began, status))
        if status == 201:
            answer: dict[str, int] = json.loads(body)
            return answer
        if status not in (503, CONN_ERROR):
            stats.unexpected = stats.unexpected or f"{status} {body[:300]!r}"
            return None
        time.sleep(_retry_after(conn.head) if status == 503 else 0.5)
    return None


def _retry_after(head: bytes) -> float:
    """The Retry-After header's seconds (1 if absent), at most 10."""
    _, found, rest = head.partition(b"\r\nretry-after:")
    return min(10.0, float(rest.split(b"\r\n", 1)[0])) if found else 1.0


# The watch: worker memory sampled while the clients run, and PostgreSQL restarted once.

Sample = tuple[float, dict[int, int]]  # (seconds since the start, {worker pid: RSS KiB})


class Watch(threading.Thread):
    """Samples each worker's RSS every 2 s; restarts PostgreSQL once, at `restart_at` s."""

    def __init__(self, stack: Stack, restart_at: float) -> None:
        super().__init__(name="soak-watch", daemon=True)
        self._stack, self._restart_at = stack, restart_at
        self._done = threading.Event()
        self.began = time.monotonic()
        self.samples: list[Sample] = []
        self.restart: dict[str, float] = {}
        self.error: BaseException | None = None

    def run(self) -> None:
        """Sample and restart until stopped."""
        self.began = time.monotonic()
        try:
            while True:
                self._sample()
                if not self.restart and self._elapsed() >= self._restart_at:
                    self._restart_database()
                to_restart = SAMPLE_EVERY_S if self.restart else self._restart_at - self._elapsed()
                if self._done.wait(min(SAMPLE_EVERY_S, to_restart)):
                    return
        except BaseException as error:  # re-raised by finish(), in the main thread
            self.error = error

    def finish(self) -> None:
        """Take a last sample, stop, and re-raise whatever went wrong in the thread."""
        self._done.set()
        self.join()
        self._sample()
        if self.error is not None:
            raise self.error

    def _elapsed(self) -> float:
        return time.monotonic() - self.began

    def _sample(self) -> None:
        rss = {pid: kib for pid in self._stack.worker_pids() if (kib := rss_kib(pid))}
        self.samples.append((round(self._elapsed(), 1), rss))

    def _restart_database(self) -> None:
        """pg_ctl stop -m fast, then start, while the clients keep posting."""
        at = self._elapsed()
        self._stack.cluster.stop()
        stopped = self._elapsed()
        self._stack.cluster.start()
        self.restart = {"at_s": at, "stop_s": stopped - at, "start_s": self._elapsed() - stopped}
        say(
            f"PostgreSQL restarted at {at:.0f} s (stop {stopped - at:.1f} s, "
            f"start {self.restart['start_s']:.1f} s)"
        )


# The table against what was acknowledged. Each row is compared as the text
# `symbol|timeframe|epoch seconds|open|high|low|close|volume`, prices without trailing
# zeros, joined by commas in timestamp order: PostgreSQL builds it with trim_scale and
# string_agg, Python with Layout.rows.
_ROW = """concat_ws('|', symbol, timeframe, extract(epoch FROM "timestamp")::bigint,
    trim_scale(open), trim_scale(high), trim_scale(low), trim_scale(close), volume)"""
_DIGESTS = f"""SELECT symbol, count(*),
    md5(string_agg({_ROW}, ',' ORDER BY timeframe, "timestamp"))
    FROM market_data_candles GROUP BY symbol"""  # noqa: S608 (constant text, no input)
_ROWS = f"SELECT {_ROW} FROM market_data_candles WHERE symbol = %s"  # noqa: S608


def verify(url: str, clients: list[SoakStats]) -> dict[str, Any]:
    """Rows and checksums expected (from the 201s) and stored; rows lost and rows extra."""
    expected = {symbol(c.client): _digest(Layout(c.client).rows(c.acked)) for c in clients}
    with psycopg.connect(url) as conn:
        stored = {name: (int(n), md5) for name, n, md5 in conn.execute(_DIGESTS).fetchall()}
        differing = sorted(
            n for n in expected.keys() | stored.keys() if expected.get(n) != stored.get(n)
        )
        by_symbol = {symbol(c.client): c for c in clients}
        lost = extra = 0
        for name in differing:  # a changed row counts as lost and as extra
            client = by_symbol.get(name)
            want = set(Layout(client.client).rows(client.acked)) if client else set()
            have = {row for (row,) in conn.execute(_ROWS, (name,)).fetchall()}
            lost, extra = lost + len(want - have), extra + len(have - want)
    return {
        "rows_expected": sum(n for n, _ in expected.values()),
        "rows_stored": sum(n for n, _ in stored.values()),
        "checksum_expected": _overall(expected),
        "checksum_stored": _overall(stored),
        "rows_lost": lost,
        "rows_extra": extra,
        "symbols_differing": differing,
    }


def _digest(rows: Iterable[str]) -> tuple[int, str]:
    """Row count and md5 of the comma-joined rows, as the SQL computes them."""
    lines = list(rows)
    return len(lines), hashlib.md5(",".join(lines).encode(), usedforsecurity=False).hexdigest()


def _overall(digests: dict[str, tuple[int, str]]) -> str:
    """One checksum over every symbol's, in symbol order."""
    joined = ",".join(f"{name}:{n}:{md5}" for name, (n, md5) in sorted(digests.items()))
    return hashlib.md5(joined.encode(), usedforsecurity=False).hexdigest()


# What the clients saw, the checks, and soak.md.


def requests_summary(clients: list[SoakStats], began: float, load_s: float) -> dict[str, Any]:
    """Status counts, latencies, and when answers came (seconds after `began`)."""
    requests = [r for c in clients for r in c.requests]
    counts = Counter("connection error" if s == CONN_ERROR else str(s) for _, _, s in requests)
    latencies = sorted(seconds for _, seconds, _ in requests)
    answered = sorted((start + took - began, status) for start, took, status in requests)
    refused = [at for at, status in answered if status == 503]
    acked = [0.0, *(at for at, status in answered if status == 201 and at < load_s), load_s]
    gap = max(pairwise(acked), key=lambda p: p[1] - p[0], default=(0, 0))
    return {
        "requests": len(requests),
        "statuses": dict(sorted(counts.items())),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 1),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "max_ms": round(latencies[-1] * 1000),
        "max_201_ms": round(max((t for _, t, s in requests if s == 201), default=0) * 1000),
        "503_after_1s_wait": sum(s == 503 and t > 1 for _, t, s in requests),
        "first_503_s": round(min(refused), 1) if refused else None,
        "last_503_s": round(max(refused), 1) if refused else None,
        "longest_without_201_s": [round(gap[0], 1), round(gap[1], 1)],
        "per_second": _per_second(answered),
    }


def _per_second(answered: list[tuple[float, int]]) -> list[list[int]]:
    """[second, 201s, 503s, others] for each second in which answers came."""
    seconds: dict[int, Counter[int]] = {}
    for at, status in answered:
        seconds.setdefault(int(at), Counter())[status] += 1
    return [[t, c[201], c[503], c.total() - c[201] - c[503]] for t, c in sorted(seconds.items())]


def batches_summary(clients: list[SoakStats]) -> dict[str, Any]:
    """Batches acknowledged, given up and re-sent, and what the 201s said was added."""
    return {
        "new_acknowledged": sum(len(c.acked) for c in clients),
        "new_given_up": sum(len(c.unacked) for c in clients),
        "resends": sum(c.resends for c in clients),
        "resend_rows_added": sum(c.resend_added for c in clients),
        "records_added_reported": sum(c.added for c in clients),
        "stored_before_a_503": sum(c.early for c in clients),
        "first_unexpected": next((c.unexpected for c in clients if c.unexpected), ""),
        "crashed": next((c.crashed for c in clients if c.crashed), ""),
    }


def memory_summary(samples: list[Sample], warm_s: float) -> dict[str, Any]:
    """Per worker pid: RSS MiB at its first sample, after warm-up, at peak and at its last."""
    seen: dict[int, list[tuple[float, int]]] = {}
    for at, rss in samples:
        for pid, kib in rss.items():
            seen.setdefault(pid, []).append((at, kib))
    workers = [_worker(pid, series, warm_s) for pid, series in seen.items()]
    final = samples[-1][1].keys() if samples else set()
    return {
        "warm_up_s": warm_s,
        "samples": len(samples),
        "workers": workers,
        "recycled": sum(pid not in final for pid in seen),
        "flat": all(w["flat"] for w in workers),
    }


def _worker(pid: int, series: list[tuple[float, int]], warm_s: float) -> dict[str, Any]:
    first = series[0][0]
    warm = next((kib for at, kib in series if at >= first + warm_s), series[-1][1])
    end = series[-1][1]
    return {
        "pid": pid,
        "from_s": first,
        "to_s": series[-1][0],
        "start_mib": _mib(series[0][1]),
        "warm_mib": _mib(warm),
        "peak_mib": _mib(max(kib for _, kib in series)),
        "end_mib": _mib(end),
        "flat": end <= FLAT * warm,
    }


def _mib(kib: int) -> float:
    return round(kib / 1024, 1)


def checks(results: dict[str, Any]) -> dict[str, bool]:
    """Every pass/fail condition of the soak."""
    statuses, batches, table = results["requests"]["statuses"], results["batches"], results["table"]
    return {
        "no 500 or other status": set(statuses) <= _EXPECTED and not batches["crashed"],
        "rows stored = rows acknowledged": table["rows_stored"] == table["rows_expected"],
        "nothing lost, nothing extra": table["rows_lost"] == table["rows_extra"] == 0,
        "checksum equal": table["checksum_stored"] == table["checksum_expected"],
        "re-sends added nothing": batches["resend_rows_added"] == 0,
        "every batch acknowledged in the end": batches["new_given_up"] == 0,
        "database restarted mid-run": bool(results["restart"]),
        "worker memory flat": results["memory"]["flat"],
    }


def check_table(results: dict[str, Any]) -> str:
    """The checks and their figures as one Markdown table."""
    req, bat, tab, mem = (results[k] for k in ("requests", "batches", "table", "memory"))
    s = req["statuses"]
    other = sum(n for status, n in s.items() if status not in _EXPECTED)
    rows = [  # (what, figure, the checks that judge it)
        (
            "Requests",
            f"{req['requests']:,}: 201 {s.get('201', 0):,}, 503 {s.get('503', 0):,}, "
            f"other {other}, connection errors {s.get('connection error', 0)}",
            ["no 500 or other status"],
        ),
        (
            "Rows acknowledged / stored",
            f"{tab['rows_expected']:,} / {tab['rows_stored']:,} "
            f"(lost {tab['rows_lost']}, extra {tab['rows_extra']})",
            ["rows stored = rows acknowledged", "nothing lost, nothing extra"],
        ),
        (
            "Checksum (md5) expected / stored",
            f"{tab['checksum_expected'][:12]} / {tab['checksum_stored'][:12]}",
            ["checksum equal"],
        ),
        (
            "Batches",
            f"{bat['new_acknowledged']:,} new acknowledged, {bat['new_given_up']} given "
            f"up; {bat['resends']:,} re-sends added {bat['resend_rows_added']} rows; "
            f"{bat['stored_before_a_503']} stored before their 503",
            ["re-sends added nothing", "every batch acknowledged in the end"],
        ),
        ("Database restart", _restart(results["restart"], req), ["database restarted mid-run"]),
        (
            "Latency",
            f"p50 {req['p50_ms']:,.1f} ms, p99 {req['p99_ms']:,.1f} ms, "
            f"max {req['max_ms']:,} ms (max of a 201: {req['max_201_ms']:,} ms)",
            [],
        ),
        ("Worker RSS (MiB)", _memory(mem), ["worker memory flat"]),
    ]
    lines = ["| Check | Figure | Result |", "| --- | --- | --- |"]
    for what, figure, names in rows:
        passed = all(results["checks"][name] for name in names)
        lines.append(f"| {what} | {figure} | {('PASS' if passed else 'FAIL') if names else ''} |")
    return "\n".join(lines)


def _memory(m: dict[str, Any]) -> str:
    parts = [
        f"{w['start_mib']:.0f} → {w['warm_mib']:.0f} → peak {w['peak_mib']:.0f} → "
        f"{w['end_mib']:.0f}"
        for w in m["workers"]
    ]
    return f"{'; '.join(parts)} (start → warm → peak → end; recycled {m['recycled']})"


def _restart(r: dict[str, float], req: dict[str, Any]) -> str:
    if not r:
        return "did not happen"
    window = (
        f"503s answered {req['first_503_s']} to {req['last_503_s']} s"
        if req["first_503_s"] is not None
        else "no 503"
    )
    quiet = req["longest_without_201_s"]
    return (
        f"at {r['at_s']:.1f} s: stop {r['stop_s']:.1f} s, start {r['start_s']:.1f} s; "
        f"{window}; longest time without a 201: {quiet[1] - quiet[0]:.1f} s "
        f"({quiet[0]} to {quiet[1]} s)"
    )


def markdown(results: dict[str, Any]) -> str:
    """soak.md: the command and its duration, the machine, the checks, worker memory, notes."""
    failed = [name for name, passed in results["checks"].items() if not passed]
    verdict = f"Checks passed: {len(results['checks']) - len(failed)} of {len(results['checks'])}."
    verdict += f" Failed: {'; '.join(failed)}." if failed else ""
    lines = [
        "| Worker pid | seen (s) | start | after warm-up | peak | end | end ≤ 1.2x warm |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for w in results["memory"]["workers"]:
        lines.append(
            f"| {w['pid']} | {w['from_s']:.0f} to {w['to_s']:.0f} | {w['start_mib']} | "
            f"{w['warm_mib']} | {w['peak_mib']} | {w['end_mib']} | "
            f"{'yes' if w['flat'] else 'NO'} |"
        )
    parts = [
        *intro("Soak", "bench.soak", results["duration_s"], "--seconds N; --quick: 30 s smoke run"),
        machine_line(results["machine"], verdict),
        "",
        check_table(results),
        "",
        "\n".join(lines),
        "",
        *[f"- {note}" for note in _notes(results)],
    ]
    return "\n".join(parts) + "\n"


def _notes(results: dict[str, Any]) -> list[str]:
    req, tab, mem, s = (results[k] for k in ("requests", "table", "memory", "settings"))
    return [
        f"{s['clients']} clients for {s['seconds']:.0f} s, {1 - s['resend_share']:.0%} new "
        f"batches and {s['resend_share']:.0%} re-sends; {req['requests']:,} requests in "
        f"{s['wall_s']:.0f} s; {tab['rows_stored']:,} rows stored "
        f"({tab['rows_stored'] / s['wall_s']:,.0f}/s on average, restart included); "
        f"load-generator CPU {results['client_cpu_share']:.1%} of the machine.",
        _outage(results["restart"], req),
        f"Worker RSS flat means end ≤ {FLAT}x the RSS {mem['warm_up_s']:.0f} s after the worker "
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
    quiet, waited = req["longest_without_201_s"], req["503_after_1s_wait"]
    return (
        f"PostgreSQL was down from {restart['at_s']:.1f} to {back:.1f} s. "
        f"{req['statuses'].get('503', 0) - waited} 503(s) came at once and {waited} after "
        f"waiting over 1 s for a pooled connection (POOL_TIMEOUT_MS, 5 s as deployed); "
        f"the last 503 was answered at {req['last_503_s']} s. Clients wait Retry-After (5 s) "
        f"before re-sending; no request was acknowledged from {quiet[0]} to {quiet[1]} s."
    )


if __name__ == "__main__":
    run_command(main)
