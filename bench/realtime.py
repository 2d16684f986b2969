"""Single-candle POSTs: EA real-time latency, and the request churn the catalog must survive."""

import time
from dataclasses import dataclass

from bench.candles import bars, candle_json, http_request
from bench.figures import Figure, load_figure
from bench.loadgen import LoadResult, run_load
from bench.report import say
from bench.stack import Stack


@dataclass
class SingleSource:
    """Hands out single-candle requests for minutes never used before in this section."""

    stack: Stack
    next_minute: int = 0
    sent: int = 0

    def run(self, clients: int, per_client: int) -> LoadResult:
        """Send new single candles from `clients` clients and check every one was stored."""
        host = f"127.0.0.1:{self.stack.port}"
        made = [
            http_request(host, self.stack.api_key, [candle_json(bar, "EURUSD")])
            for bar in bars(clients * per_client, self.next_minute, seed=self.next_minute)
        ]
        self.next_minute += len(made)
        plans = [made[c * per_client : (c + 1) * per_client] for c in range(clients)]
        result = run_load(self.stack.port, plans)
        result.check(added=len(made), duplicates=0)
        self.sent += len(made)
        return result


def realtime_figures(source: SingleSource, sequential: int, per_client: int) -> list[Figure]:
    """Latency of single-candle POSTs, sequential and from 16 concurrent clients."""
    source.run(4, 25)  # warm every worker and its connection pool
    seq = source.run(1, sequential)
    par = source.run(16, per_client)
    say(f"single candles: {sequential:,} sequential, {16 * per_client:,} from 16 clients")
    return [
        load_figure("ea_seq", "EA real time, 1 candle/request, sequential", seq, "added"),
        load_figure("ea_16", "EA real time, 1 candle/request, 16 clients", par, "added"),
    ]


def churn_figure(source: SingleSource, total: int, clients: int, budget_s: float) -> Figure:
    """More single-candle requests in rounds of 10,000, up to `total` or the time budget."""
    began, first = time.monotonic(), source.sent
    while source.sent < total:
        per_client = max(1, min(10_000, total - source.sent) // clients)
        round_began = time.monotonic()
        source.run(clients, per_client)
        say(f"churn: {source.sent:,} single-candle requests so far")
        now = time.monotonic()
        if now - began + (now - round_began) > budget_s:
            break  # another round would not fit in the budget
    seconds, sent = time.monotonic() - began, source.sent - first
    note = f"{source.sent:,} single-candle requests in this section ({seconds:.0f} s churn)"
    rate = sent / seconds if seconds else None
    return Figure(
        "churn", f"Single-candle churn, {clients} clients", rate, note=note, requests=sent
    )
