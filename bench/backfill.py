"""Backfill: `candlesvc import` of an MT5 export against `psql \\copy` of the same rows.

This machine's speed drifts by a quarter or more from one run to the next, so the three
are measured in rounds (\\copy, import, import again), each import against the \\copy of
its own round; a figure is the median over the rounds.
"""

from dataclasses import dataclass, field
from pathlib import Path
from statistics import median

from bench.dbops import count_rows, reset
from bench.figures import Figure
from bench.mt5file import write_exports
from bench.procs import Run, candlesvc_import, importer_available, psql_copy
from bench.progress import say

UNAVAILABLE = "not available: this checkout has no `candlesvc import`"
_NEW, _AGAIN = "candlesvc import, {:,} new rows", "candlesvc import again, {:,} duplicates"


@dataclass
class Rounds:
    """Seconds taken by \\copy, the import and the re-import, round after round."""

    rows: int
    copy: list[float] = field(default_factory=list)
    new: list[Run] = field(default_factory=list)
    again: list[Run] = field(default_factory=list)

    def figure(self, key: str, name: str, runs: list[Run]) -> Figure:
        """The median rate of `runs`, judged by its median ratio to its round's \\copy."""
        ratios = [c / r.seconds for c, r in zip(self.copy, runs, strict=True)]
        each = ", ".join(f"{ratio:.2f}x" for ratio in ratios)
        note = f"x \\copy by round {each}, median {median(ratios):.2f}x; {_seconds(runs)}"
        rate = median(self.rows / run.seconds for run in runs)
        return Figure(key, name, rate, paired=median(ratios), note=note)


def backfill_figures(url: str, folder: Path, rows: int, rss_rows: int, rounds: int) -> list[Figure]:
    """\\copy, import and re-import of `rows`, `rounds` times; peak RSS for both sizes."""
    mt5_path, csv_path = write_exports(folder, rows, with_csv=True)
    assert csv_path is not None
    measured = Rounds(rows)
    available = importer_available()
    for _ in range(rounds):
        reset(url)
        copy = _checked(psql_copy(url, csv_path, folder / "psql.log"), url, rows, "psql \\copy")
        measured.copy.append(copy.seconds)
        say(f"psql \\copy of {rows:,} rows: {rows / copy.seconds:,.0f} rows/s")
        if available:
            _import_round(url, mt5_path, measured)
    csv_path.unlink()
    mt5_path.unlink()
    reference = _copy_figure(measured)
    if not available:
        return [reference, *_unavailable(rows, rss_rows)]
    return [reference, measured.figure("import_new", _NEW.format(rows), measured.new),
            measured.figure("import_again", _AGAIN.format(rows), measured.again),
            _rss("rss_small", rows, max(measured.new, key=lambda run: run.tree_rss_mib)),
            _big_import(url, folder, rss_rows)]  # fmt: skip


def _import_round(url: str, path: Path, measured: Rounds) -> None:
    """Import the MT5 file into the empty table, then again (all duplicates)."""
    reset(url)
    log, rows = path.parent / "import.log", measured.rows
    new = _checked(candlesvc_import(url, path, log), url, rows, "candlesvc import")
    say(f"candlesvc import of {rows:,} rows: {rows / new.seconds:,.0f} rows/s")
    again = _checked(candlesvc_import(url, path, log), url, rows, "candlesvc import (again)")
    say(f"candlesvc import again: {rows / again.seconds:,.0f} rows/s")
    measured.new.append(new)
    measured.again.append(again)


def _copy_figure(measured: Rounds) -> Figure:
    """The median \\copy rate: the backfill reference."""
    rates = [measured.rows / seconds for seconds in measured.copy]
    each = ", ".join(f"{rate:,.0f}" for rate in rates)
    name = f"psql \\copy, {measured.rows:,} rows of plain CSV"
    return Figure("copy_csv", name, median(rates), note=f"backfill reference; rounds {each}/s")


def _big_import(url: str, folder: Path, rows: int) -> Figure:
    """Import a file of `rows` into the empty table for its peak RSS."""
    big, _ = write_exports(folder, rows, with_csv=False)
    reset(url)
    run = _checked(candlesvc_import(url, big, folder / "import-big.log"), url, rows, "import")
    big.unlink()
    say(f"candlesvc import of {rows:,} rows: peak RSS {run.tree_rss_mib:,.0f} MiB")
    return _rss("rss_big", rows, run)


def _seconds(runs: list[Run]) -> str:
    return ", ".join(f"{run.seconds:.1f}" for run in runs) + " s"


def _rss(key: str, rows: int, run: Run) -> Figure:
    own = f"{run.max_rss_mib:,.0f} MiB"
    note = f"all its processes; the main one alone {own}; {rows / run.seconds:,.0f} rows/s"
    return Figure(key, f"candlesvc import peak RSS, {rows:,} rows", run.tree_rss_mib, "MiB",
                  note=note)  # fmt: skip


def _unavailable(rows: int, rss_rows: int) -> list[Figure]:
    names = [("import_new", _NEW.format(rows), "candles/s"),
             ("import_again", _AGAIN.format(rows), "candles/s"),
             ("rss_small", f"candlesvc import peak RSS, {rows:,} rows", "MiB"),
             ("rss_big", f"candlesvc import peak RSS, {rss_rows:,} rows", "MiB")]  # fmt: skip
    return [Figure(key, name, None, unit, note=UNAVAILABLE) for key, name, unit in names]


def _checked(run: Run, url: str, expected_rows: int, what: str) -> Run:
    """Refuse a run that failed or left a different number of rows than expected."""
    if run.returncode != 0:
        raise RuntimeError(f"{what} exited {run.returncode}: {run.output}")
    stored = count_rows(url)
    if stored != expected_rows:
        raise RuntimeError(f"{what} left {stored:,} rows, expected {expected_rows:,}")
    return run
