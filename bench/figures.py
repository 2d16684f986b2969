"""One measured figure per row of the results table, and the targets it is judged by."""

from collections.abc import Callable
from dataclasses import dataclass

from bench.loadgen import LoadResult, percentile


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


def load_figure(key: str, scenario: str, result: LoadResult, counter: str) -> Figure:
    """Candles/s (from `counter`: added or duplicates), latencies and client CPU."""
    lat = result.latencies()
    return Figure(
        key=key,
        scenario=scenario,
        value=result.total(counter) / result.wall,
        p50_ms=percentile(lat, 0.50) * 1000,
        p99_ms=percentile(lat, 0.99) * 1000,
        max_ms=lat[-1] * 1000,
        client_cpu=result.cpu_share(),
        requests=result.total("requests"),
        connections=result.total("connects"),
    )


RSS_FLAT = 1.25  # the big import may use at most this multiple of the small one's peak RSS
Check = Callable[[Figure, dict[str, Figure]], bool]


def _bulk(figure: Figure, _: dict[str, Figure]) -> bool:
    return (figure.ratio or 0) >= 0.6


def _latency(figure: Figure, _: dict[str, Figure]) -> bool:
    return (figure.p50_ms or 1e9) <= 2 and (figure.p99_ms or 1e9) <= 5


def _paired(share: float) -> Check:
    return lambda figure, _: (figure.paired or 0) >= share


def _quick_read(figure: Figure, _: dict[str, Figure]) -> bool:
    return (figure.p99_ms or 1e9) <= 50


def _rss(figure: Figure, by_key: dict[str, Figure]) -> bool:
    small = by_key["rss_small"].value
    return small is not None and (figure.value or 1e12) <= RSS_FLAT * small


TARGETS: dict[str, tuple[str, Check]] = {
    "bulk_1000x4": ("≥ 0.60x limit", _bulk),
    "ea_seq": ("p50 ≤ 2 ms, p99 ≤ 5 ms", _latency),
    "import_new": ("median ≥ 0.80x \\copy", _paired(0.8)),
    "import_again": ("median ≥ 1.00x \\copy", _paired(1.0)),
    "rss_big": (f"flat: ≤ {RSS_FLAT}x the smaller import", _rss),
    "series_catalogue": ("p99 ≤ 50 ms", _quick_read),
}  # the catalog's target is judged where it is measured (bench.catalog)


def judge(figures: list[Figure], limit: float) -> None:
    """Set every rate's ratio to the limit, then each targeted figure's target and verdict."""
    by_key = {f.key: f for f in figures}
    for figure in figures:
        if figure.unit == "candles/s" and figure.value is not None:
            figure.ratio = figure.value / limit
    for figure in figures:
        if figure.key in TARGETS:
            figure.target, check = TARGETS[figure.key]
            passed = figure.value is not None and check(figure, by_key)
            figure.verdict = "PASS" if passed else "MISS"
