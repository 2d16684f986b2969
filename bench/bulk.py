"""HTTP bulk and re-send: every batch size from every client count, all distinct rows."""

from collections.abc import Sequence

from bench.candles import split_requests
from bench.dbops import reset
from bench.figures import Figure, check_counts, load_figure
from bench.loadgen import run_load
from bench.progress import say
from bench.stack import Stack


def bulk_figures(
    stack: Stack, candles: Sequence[str], batches: Sequence[tuple[int, int]],
    client_counts: Sequence[int],
) -> list[Figure]:  # fmt: skip
    """Per (batch size, rows): new rows into the empty table, then the same again."""
    new, again = [], []
    for batch, rows in batches:
        for clients in client_counts:
            pair = _one(stack, candles[:rows], batch, clients)
            new.append(pair[0])
            again.append(pair[1])
    return new + again


def _one(stack: Stack, candles: Sequence[str], batch: int, clients: int) -> tuple[Figure, Figure]:
    host = f"127.0.0.1:{stack.port}"
    plans = split_requests(host, stack.api_key, candles, clients, batch)
    sent = len(candles) // clients * clients
    reset(stack.url)
    first = run_load(stack.port, plans)
    check_counts(first, added=sent, duplicates=0)
    second = run_load(stack.port, plans)
    check_counts(second, added=0, duplicates=sent)
    label = f"batch {batch:,} x {clients} client{'s' if clients > 1 else ''}"
    say(
        f"HTTP {label}: {first.total('added') / first.wall:,.0f} new, "
        f"{second.total('duplicates') / second.wall:,.0f} duplicates/s"
    )
    return (
        load_figure(f"bulk_{batch}x{clients}", f"HTTP bulk, {label}", first, "added"),
        load_figure(f"resend_{batch}x{clients}", f"HTTP re-send, {label}", second,
                    "duplicates"),
    )  # fmt: skip
