"""HTTP bulk and re-send: every batch size from every client count, all distinct rows."""

from collections.abc import Sequence

from bench.candles import split_requests
from bench.figures import Figure, load_figure
from bench.loadgen import run_load
from bench.report import say
from bench.stack import Stack, reset


def bulk_figures(
    stack: Stack,
    candles: Sequence[str],
    batches: Sequence[tuple[int, int]],
    client_counts: Sequence[int],
) -> list[Figure]:
    """Per (batch size, rows) and client count: new rows into the empty table, then again."""
    new, again = [], []
    for batch, rows in batches:
        for clients in client_counts:
            first, second = _new_then_again(stack, candles[:rows], batch, clients)
            new.append(first)
            again.append(second)
    return new + again


def _new_then_again(
    stack: Stack, candles: Sequence[str], batch: int, clients: int
) -> tuple[Figure, Figure]:
    plans = split_requests(f"127.0.0.1:{stack.port}", stack.api_key, candles, clients, batch)
    sent = len(candles) // clients * clients
    reset(stack.url)
    first = run_load(stack.port, plans)
    first.check(added=sent, duplicates=0)
    second = run_load(stack.port, plans)
    second.check(added=0, duplicates=sent)
    label = f"batch {batch:,} x {clients} client{'s' if clients > 1 else ''}"
    say(
        f"HTTP {label}: {first.total('added') / first.wall:,.0f} new, "
        f"{second.total('duplicates') / second.wall:,.0f} duplicates/s"
    )
    return (
        load_figure(f"bulk_{batch}x{clients}", f"HTTP bulk, {label}", first, "added"),
        load_figure(f"resend_{batch}x{clients}", f"HTTP re-send, {label}", second, "duplicates"),
    )
