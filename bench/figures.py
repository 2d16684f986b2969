"""One measured figure per row of the results table, and how a load run becomes one."""

from dataclasses import dataclass

from bench.loadgen import LoadResult


@dataclass
class Figure:
    """A measured value, its ratio to the COPY limit, and its verdict against a target."""

    key: str
    scenario: str
    value: float | None
    unit: str = "candles/s"
    ratio: float | None = None
    paired: float | None = None  # median ratio to a reference measured in the same rounds
    p50_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    client_cpu: float | None = None
    requests: int | None = None
    connections: int | None = None
    target: str = ""
    verdict: str = ""
    note: str = ""


def percentile(sorted_values: list[float], share: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    rank = max(0, min(len(sorted_values) - 1, int(share * len(sorted_values) + 0.999999) - 1))
    return sorted_values[rank]


def load_figure(key: str, scenario: str, result: LoadResult, counter: str) -> Figure:
    """Candles/s (from `counter`: added or duplicates), latencies and client CPU."""
    rate = result.total(counter) / result.wall
    lat = result.latencies()
    return Figure(
        key=key,
        scenario=scenario,
        value=rate,
        p50_ms=percentile(lat, 0.50) * 1000,
        p99_ms=percentile(lat, 0.99) * 1000,
        max_ms=lat[-1] * 1000,
        client_cpu=result.cpu_share(),
        requests=result.total("requests"),
        connections=result.total("connects"),
    )


def check_counts(result: LoadResult, added: int, duplicates: int) -> None:
    """Fail loudly if any request failed or the stored counts are not the expected ones."""
    failed = [c.first_failure for c in result.clients if c.failures]
    if failed:
        raise RuntimeError(f"{result.total('failures')} request(s) failed, e.g. {failed[0]}")
    got = (result.total("added"), result.total("duplicates"))
    if got != (added, duplicates):
        raise RuntimeError(f"expected added/duplicates {(added, duplicates)}, got {got}")


def apply_limit(figures: list[Figure], limit: float) -> None:
    """Set every rate's ratio to the COPY limit."""
    for figure in figures:
        if figure.unit == "candles/s" and figure.value is not None:
            figure.ratio = figure.value / limit
