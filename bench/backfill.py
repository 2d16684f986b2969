"""Backfill: `candlesvc import` of an MT5 export against `psql \\copy` of the same rows."""

from pathlib import Path

from bench.dbops import count_rows, reset
from bench.figures import Figure
from bench.mt5file import write_exports
from bench.procs import Run, candlesvc_import, importer_available, psql_copy
from bench.progress import say

UNAVAILABLE = "not available: this checkout has no `candlesvc import`"


def backfill_figures(url: str, folder: Path, rows: int, rss_rows: int) -> list[Figure]:
    """\\copy, import and re-import of `rows`; importer peak RSS for `rows` and `rss_rows`."""
    reference, mt5_path = copy_figure(url, folder, rows)
    if not importer_available():
        mt5_path.unlink()
        return [reference, *_unavailable(rows, rss_rows)]
    assert reference.value is not None
    figures = [reference, *import_figures(url, mt5_path, rows, reference.value)]
    mt5_path.unlink()
    big, _ = write_exports(folder, rss_rows, with_csv=False)
    reset(url)
    run = _checked(candlesvc_import(url, big, folder / "import-big.log"), url, rss_rows, "import")
    big.unlink()
    say(f"candlesvc import of {rss_rows:,} rows: peak RSS {run.tree_rss_mib:,.0f} MiB")
    figures.append(_rss("rss_big", rss_rows, run))
    return figures


def copy_figure(url: str, folder: Path, rows: int) -> tuple[Figure, Path]:
    """psql \\copy of `rows` plain CSV rows into the empty table; returns the MT5 file too."""
    mt5_path, csv_path = write_exports(folder, rows, with_csv=True)
    assert csv_path is not None
    reset(url)
    run = _checked(psql_copy(url, csv_path, folder / "psql.log"), url, rows, "psql \\copy")
    csv_path.unlink()
    rate = rows / run.seconds
    say(f"psql \\copy of {rows:,} rows: {rate:,.0f} rows/s")
    name = f"psql \\copy, {rows:,} rows of plain CSV"
    return Figure("copy_csv", name, rate, note="backfill reference"), mt5_path


def import_figures(url: str, path: Path, rows: int, reference: float) -> list[Figure]:
    """Import the MT5 file into the empty table, then again (all duplicates)."""
    reset(url)
    log = path.parent / "import.log"
    new = _checked(candlesvc_import(url, path, log), url, rows, "candlesvc import")
    say(f"candlesvc import of {rows:,} rows: {rows / new.seconds:,.0f} rows/s")
    again = _checked(candlesvc_import(url, path, log), url, rows, "candlesvc import (again)")
    say(f"candlesvc import again: {rows / again.seconds:,.0f} rows/s")
    return [
        _rate("import_new", f"candlesvc import, {rows:,} new rows", rows, new, reference),
        _rate("import_again", f"candlesvc import again, {rows:,} duplicates", rows, again,
              reference),
        _rss("rss_small", rows, new),
    ]  # fmt: skip


def _rate(key: str, name: str, rows: int, run: Run, reference: float) -> Figure:
    rate = rows / run.seconds
    note = f"{rate / reference:.2f}x \\copy; {run.seconds:.1f} s"
    return Figure(key, name, rate, note=note)


def _rss(key: str, rows: int, run: Run) -> Figure:
    own = f"{run.max_rss_mib:,.0f} MiB"
    note = f"all its processes; the main one alone {own}; {rows / run.seconds:,.0f} rows/s"
    return Figure(key, f"candlesvc import peak RSS, {rows:,} rows", run.tree_rss_mib, "MiB",
                  note=note)  # fmt: skip


def _unavailable(rows: int, rss_rows: int) -> list[Figure]:
    names = [("import_new", f"candlesvc import, {rows:,} new rows", "candles/s"),
             ("import_again", f"candlesvc import again, {rows:,} duplicates", "candles/s"),
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
