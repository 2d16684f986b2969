"""The issue's targets, and a PASS or MISS against each."""

from collections.abc import Callable

from bench.figures import Figure

RSS_FLAT = 1.25  # the big import may use at most this multiple of the small one's peak RSS
Check = Callable[[Figure, dict[str, Figure]], bool]


def _paired(share: float) -> Check:
    def _check(figure: Figure, _: dict[str, Figure]) -> bool:
        return (figure.paired or 0) >= share

    return _check


def _latency(figure: Figure, _: dict[str, Figure]) -> bool:
    return (figure.p50_ms or 1e9) <= 2 and (figure.p99_ms or 1e9) <= 5


def _bulk(figure: Figure, _: dict[str, Figure]) -> bool:
    return (figure.ratio or 0) >= 0.6


def _rss(figure: Figure, by_key: dict[str, Figure]) -> bool:
    small = by_key["rss_small"].value
    return small is not None and (figure.value or 1e12) <= RSS_FLAT * small


TARGETS: dict[str, tuple[str, Check]] = {
    "bulk_1000x4": ("≥ 0.60x limit", _bulk),
    "ea_seq": ("p50 ≤ 2 ms, p99 ≤ 5 ms", _latency),
    "import_new": ("median ≥ 0.80x \\copy", _paired(0.8)),
    "import_again": ("median ≥ 1.00x \\copy", _paired(1.0)),
    "rss_big": (f"flat: ≤ {RSS_FLAT}x the smaller import", _rss),
}


def judge(figures: list[Figure]) -> None:
    """Fill in each targeted figure's target and verdict (PASS, MISS, or n/a if unmeasured)."""
    by_key = {f.key: f for f in figures}
    for figure in figures:
        if figure.key not in TARGETS:
            continue
        figure.target, check = TARGETS[figure.key]
        if figure.value is None:
            figure.verdict = "n/a"
        else:
            figure.verdict = "PASS" if check(figure, by_key) else "MISS"
