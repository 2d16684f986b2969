"""System catalog size and churn, to show that many small requests do not bloat it."""

import time
from dataclasses import asdict, dataclass

import psycopg
from psycopg import sql

from bench.figures import Figure

CATALOGS = ("pg_class", "pg_attribute", "pg_type", "pg_depend")
WATCHED = ("pg_class", "pg_attribute")
GROWTH_BOUND = 1024 * 1024  # bytes pg_class + pg_attribute may grow per 100,000 requests
_STATS = (
    "SELECT n_tup_ins, n_tup_upd, n_tup_del, n_dead_tup, pg_total_relation_size(relid)"
    " FROM pg_stat_sys_tables WHERE schemaname = 'pg_catalog' AND relname = %s"
)
_COUNT = sql.SQL("SELECT count(*) FROM {}")
_OTHERS = (
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
    " AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
)


@dataclass(frozen=True)
class CatalogStat:
    """One catalog's row count, size and cumulative tuple counters."""

    rows: int
    size_bytes: int
    n_tup_ins: int
    n_tup_upd: int
    n_tup_del: int
    n_dead_tup: int


class Catalogs:
    """Snapshots of the catalogs between sections; each section's change, figure and verdict."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.changes: dict[str, dict[str, object]] = {}
        self.figures: list[Figure] = []
        self._last = snapshot(url)

    def measure(self, key: str, section: str, label: str, requests: int, judged: bool) -> None:
        """Growth of pg_class + pg_attribute since the last snapshot, and per 100,000 requests."""
        before, after = self._last, snapshot(self.url)
        self._last = after
        self.changes[section] = _compare(before, after)
        grown = sum(after[n].size_bytes - before[n].size_bytes for n in WATCHED)
        projected = grown * 100_000 / max(requests, 1)
        name = f"pg_class + pg_attribute growth, {requests:,} {label} requests"
        note = f"per 100,000 requests: {projected / 1024:,.0f} KiB"
        figure = Figure(key, name, grown / 1024, "KiB", note=note)
        if judged:
            figure.target = "≤ 1 MiB per 100,000 requests"
            figure.verdict = "PASS" if projected <= GROWTH_BOUND else "MISS"
        self.figures.append(figure)


def snapshot(url: str) -> dict[str, CatalogStat]:
    """The catalogs now, once every other session has gone (and flushed its statistics)."""
    with psycopg.connect(url, autocommit=True) as conn:
        deadline = time.monotonic() + 15
        while _one(conn.execute(_OTHERS)) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(0.5)
        result = {}
        for name in CATALOGS:
            count = _one(conn.execute(_COUNT.format(sql.Identifier(name))))
            stats = conn.execute(_STATS, (name,)).fetchone()
            assert stats is not None
            ins, upd, dele, dead, size = stats
            result[name] = CatalogStat(count, size, ins, upd, dele, dead)
        return result


def _one(cursor: psycopg.Cursor[tuple[int]]) -> int:
    row = cursor.fetchone()
    return int(row[0]) if row else 0


def _compare(before: dict[str, CatalogStat], after: dict[str, CatalogStat]) -> dict[str, object]:
    """Before, after and the change of every field, per catalog."""
    report: dict[str, object] = {}
    for name in CATALOGS:
        old, new = asdict(before[name]), asdict(after[name])
        report[name] = {"before": old, "after": new, "delta": {k: new[k] - old[k] for k in old}}
    return report
