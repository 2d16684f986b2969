"""`candlesvc import`: run the command, then look at the stored rows."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from candlesvc.cli.main import app
from candlesvc.history.importer import FilePlan, ImportAbortedError, WorkerFailedError, import_file
from candlesvc.history.rows import ImportSpec
from candlesvc.model.timezones import parse_zone
from candlesvc.store.localdb import free_port
from tests.helpers import FIXTURES, rows

pytestmark = pytest.mark.slow  # the command end to end, in processes

CANDLESVC = Path(sys.executable).parent / "candlesvc"
SAMPLE = FIXTURES / "EURUSD60.csv"
M1_FILE = FIXTURES / "EURUSD_M1_202301020000_202301020004.csv"
REAL_VOLUME_FILE = FIXTURES / "WDO$N_M15_202301020900_202301020945.csv"
HEADER = "<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>\n"


def run(*args: str | Path, url: str | None = None, stdin: bytes | None = None):
    """Invoke `candlesvc import` with DATABASE_URL set to `url`."""
    env = {"DATABASE_URL": url} if url else {}
    return CliRunner().invoke(app, ["import", *map(str, args)], env=env, input=stdin)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """An aware UTC datetime."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def bar(symbol, tf, when, o, h, low, c, volume):
    """A stored row as helpers.rows returns it."""
    return (symbol, tf, when, *map(Decimal, (o, h, low, c)), volume)


def minute_file(path: Path, count: int, bad: dict[int, str] | None = None) -> Path:
    """An MT5 M1 export with `count` valid bars; `bad` replaces numbered rows (1-based)."""
    lines = [HEADER]
    for i in range(count):
        time = f"{i // 60:02}:{i % 60:02}:00"
        line = f"2023.01.02\t{time}\t1.10000\t1.10020\t1.09990\t1.10010\t{i}\t0\t5\n"
        lines.append((bad or {}).get(i + 1, line))
    path.write_text("".join(lines))
    return path


# Every MT5/MT4 variant: separator, encoding, line ending, time column, file-name pattern.
VARIANTS = [
    (
        "EURUSD_M1_202301020000_202301020004.csv",
        5,  # tab, HH:MM:SS, UTF-8, LF
        bar("EURUSD", "M1", utc(2023, 1, 2), "1.06973", "1.06993", "1.06945", "1.06990", 52),
        bar("EURUSD", "M1", utc(2023, 1, 2, 0, 4), "1.06970", "1.06980", "1.06968", "1.06975", 33),
    ),
    (
        "GBPUSD_M5_202301020000_202301020015.csv",
        4,  # comma, HH:MM, UTF-8 BOM, CRLF
        bar("GBPUSD", "M5", utc(2023, 1, 2), "1.20802", "1.20850", "1.20790", "1.20841", 120),
        bar("GBPUSD", "M5", utc(2023, 1, 2, 0, 15), "1.20780", "1.20801", "1.20775", "1.20799", 87),
    ),
    (
        "XAUUSD.pro_D1_202301020000_202301060000.csv",
        5,  # no <TIME>, UTF-16LE BOM, CRLF
        bar("XAUUSD.pro", "D1", utc(2023, 1, 2), "1824.16", "1831.56", "1822.80", "1826.21", 45872),
        bar("XAUUSD.pro", "D1", utc(2023, 1, 6), "1832.61", "1869.80", "1826.95", "1865.49", 90113),
    ),
    (
        "USDCHF!_H1_202301020000_202301020300.csv",
        4,  # UTF-16BE BOM, LF
        bar("USDCHF!", "H1", utc(2023, 1, 2), "0.92477", "0.92606", "0.92210", "0.92501", 769),
        bar("USDCHF!", "H1", utc(2023, 1, 2, 3), "0.92420", "0.92455", "0.92400", "0.92450", 388),
    ),
    (
        "WDO$N_M15_202301020900_202301020945.csv",
        4,  # comma, HH:MM:SS, CRLF
        bar("WDO$N", "M15", utc(2023, 1, 2, 9), "5296.5", "5310.0", "5290.0", "5305.5", 5120),
        bar("WDO$N", "M15", utc(2023, 1, 2, 9, 45), "5300.5", "5306.0", "5295.5", "5302.0", 3501),
    ),
    (
        "#AAPL_W1_202301010000_202301290000.csv",
        5,  # W1 without <TIME>, comma, UTF-8 BOM
        bar("#AAPL", "W1", utc(2023, 1, 1), "130.28", "130.90", "124.17", "129.62", 412345),
        bar("#AAPL", "W1", utc(2023, 1, 29), "145.75", "157.38", "141.32", "154.50", 421098),
    ),
    (
        "EURUSD+.r_MN1_202301010000_202304010000.csv",
        4,  # MN1 without <TIME>, tab, CRLF
        bar(
            "EURUSD+.r", "MN1", utc(2023, 1, 1), "1.07045", "1.09293", "1.04818", "1.08630", 2100233
        ),
        bar(
            "EURUSD+.r", "MN1", utc(2023, 4, 1), "1.08383", "1.10755", "1.07883", "1.10181", 1876300
        ),
    ),
    (
        "GBPJPY1440.csv",
        3,  # MT4, no header, CRLF, minutes in the name
        bar("GBPJPY", "D1", utc(2017, 12, 27), "151.260", "151.780", "150.960", "151.550", 86543),
        bar("GBPJPY", "D1", utc(2017, 12, 29), "151.880", "152.340", "151.620", "152.130", 77310),
    ),
]


@pytest.mark.parametrize(("name", "count", "first", "last"), VARIANTS)
def test_every_format_is_detected_and_stored(database_url, db, name, count, first, last):
    result = run(FIXTURES / name, url=database_url)
    assert result.exit_code == 0, result.output
    stored = rows(db)
    assert len(stored) == count
    assert (stored[0], stored[-1]) == (first, last)


@pytest.mark.parametrize("jobs", ["1", "2"])  # parsed here, or by two worker processes
def test_the_real_mt4_sample_end_to_end(database_url, db, jobs):
    result = run(SAMPLE, "--jobs", jobs, "--chunk-size", "7000", url=database_url)
    assert result.exit_code == 0, result.output
    assert "65,000" in result.stdout
    count, first, last = db.execute(
        'SELECT count(*), min("timestamp"), max("timestamp") FROM market_data_candles'
        " WHERE symbol = 'EURUSD' AND timeframe = 'H1'"
    ).fetchone()
    assert (count, first, last) == (65_000, utc(2007, 7, 19, 3), utc(2018, 1, 31, 17))
    stored = rows(db)
    assert stored[0] == bar("EURUSD", "H1", first, "1.38080", "1.38090", "1.37910", "1.37930", 174)
    assert stored[-1] == bar("EURUSD", "H1", last, "1.24584", "1.24656", "1.24547", "1.24595", 2869)


def test_reimport_adds_nothing_and_counts_duplicates(database_url, db):
    assert run(M1_FILE, url=database_url).exit_code == 0
    before = rows(db)
    again = run(M1_FILE, "--json", url=database_url)
    assert again.exit_code == 0, again.output
    summary = json.loads(again.stdout)["files"][0]
    assert (summary["rows"], summary["added"], summary["duplicates"]) == (5, 0, 5)
    assert rows(db) == before
    assert "nothing new: all rows were already stored" in run(M1_FILE, url=database_url).stdout


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_reimport_is_counted_without_encoding_lines(tmp_path, database_url, db, jobs):
    path = minute_file(tmp_path / "EURUSD_M1_202301020000_202301021039.csv", 640)
    assert run(path, url=database_url).exit_code == 0
    before = rows(db)
    lines: list[bool] = []
    report = import_file(plan(path, jobs), database_url, on_chunk=record_lines(lines))
    assert (report.rows, report.added, report.duplicates) == (640, 0, 640)
    assert rows(db) == before
    assert lines[0]
    assert not any(lines[-50:])  # once a chunk was all stored: only the times


@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize("stored", [range(300), range(100, 640), [*range(200), *range(230, 640)]])
def test_a_partly_stored_file_adds_exactly_the_rest(tmp_path, database_url, db, jobs, stored):
    (tmp_path / "full").mkdir()
    full = minute_file(tmp_path / "full" / "EURUSD_M1_202301020000_202301021039.csv", 640)
    part = tmp_path / "EURUSD_M1_202301020000_202301021039.csv"
    text = full.read_text().splitlines(keepends=True)
    part.write_text("".join([text[0], *(text[1 + i] for i in stored)]))
    assert run(part, url=database_url).exit_code == 0
    lines: list[bool] = []
    report = import_file(plan(full, jobs), database_url, on_chunk=record_lines(lines))
    assert (report.added, report.duplicates) == (640 - len(stored), len(stored))
    assert [r[7] for r in rows(db)] == list(range(640))
    assert not all(lines)  # some blocks were parsed without lines, and parsed again


def plan(path: Path, jobs: int) -> FilePlan:
    """An import of an M1 EURUSD file in chunks of 7 rows."""
    return FilePlan(
        str(path), ImportSpec("EURUSD", "M1", parse_zone("UTC"), chunk_size=7), jobs=jobs
    )


def record_lines(seen: list[bool]):
    """An on-chunk hook noting whether each chunk came with COPY lines."""
    return lambda report, chunk: seen.append(chunk.batch.data is not None)


@pytest.mark.parametrize("count", [5, 300])  # the writer's array path and its COPY paths
def test_on_conflict_update_corrects_stored_bars(tmp_path, database_url, db, count):
    name = tmp_path / "EURUSD_M1_202301020000_202301022359.csv"
    assert run(minute_file(name, count), url=database_url).exit_code == 0
    corrected = name.read_text().replace("\t1.10010\t", "\t1.10015\t", 2)
    name.write_text(corrected)
    ignored = json.loads(run(name, "--json", url=database_url).stdout)["files"][0]
    updated = run(name, "--on-conflict", "update", "--json", url=database_url)
    summary = json.loads(updated.stdout)["files"][0]
    assert (ignored["added"], ignored["updated"], ignored["duplicates"]) == (0, 0, count)
    assert (summary["added"], summary["updated"], summary["duplicates"]) == (0, 2, count - 2)
    assert [r[6] for r in rows(db)][:3] == [Decimal("1.10015")] * 2 + [Decimal("1.10010")]


def test_updated_bars_are_not_called_nothing_new(tmp_path, database_url):
    name = minute_file(tmp_path / "EURUSD_M1_202301020000_202301020004.csv", 5)
    assert run(name, url=database_url).exit_code == 0
    name.write_text(name.read_text().replace("\t1.10010\t", "\t1.10015\t", 1))
    result = run(name, "--on-conflict", "update", url=database_url)
    assert result.exit_code == 0, result.output
    assert "nothing new" not in result.stdout


def test_several_files_in_one_run(database_url, db):
    result = run(M1_FILE, FIXTURES / "GBPJPY1440.csv", url=database_url)
    assert result.exit_code == 0, result.output
    assert {(r[0], r[1]) for r in rows(db)} == {("EURUSD", "M1"), ("GBPJPY", "D1")}


def test_symbol_and_timeframe_options_override_the_name(database_url, db):
    result = run(M1_FILE, "--symbol", "EURUSD.x", "--timeframe", "m5", url=database_url)
    assert result.exit_code == 0, result.output
    assert {(r[0], r[1]) for r in rows(db)} == {("EURUSD.x", "M5")}


@pytest.mark.parametrize(
    ("name", "missing"),
    [("prices.csv", "symbol"), ("EURUSD.csv", "symbol"), ("EURUSD_X9_2023.csv", "symbol")],
)
def test_a_name_without_symbol_or_timeframe_is_a_usage_error(tmp_path, database_url, name, missing):
    path = tmp_path / name
    path.write_bytes(M1_FILE.read_bytes())
    result = run(path, url=database_url)
    assert result.exit_code == 2
    assert name in result.stderr
    assert f"--{missing}" in result.stderr


def test_a_name_with_a_symbol_only_needs_the_timeframe(tmp_path, database_url, db):
    path = tmp_path / "EURUSD.csv"
    path.write_bytes(M1_FILE.read_bytes())
    assert "--timeframe" in run(path, "--symbol", "EURUSD", url=database_url).stderr
    assert run(path, "--symbol", "EURUSD", "--timeframe", "M1", url=database_url).exit_code == 0
    assert len(rows(db)) == 5


@pytest.mark.parametrize("tz", ["+02:00", "Europe/Athens", "NY+7"])
def test_times_are_read_in_the_broker_zone(database_url, db, tz):
    assert run(M1_FILE, "--tz", tz, url=database_url).exit_code == 0
    assert rows(db)[0][2] == utc(2023, 1, 1, 22)  # winter: broker time is UTC+2


@pytest.mark.parametrize(("jobs", "chunk"), [("1", "20000"), ("1", "2"), ("2", "1"), ("2", "3")])
def test_a_repeated_dst_hour_is_read_in_file_order(database_url, db, jobs, chunk):
    name = "BTCUSD_M30_202311050700_202311051000.csv"  # NY+7 clock: 08:00-08:59 twice
    args = ("--tz", "NY+7", "--jobs", jobs, "--chunk-size", chunk)  # chunks split the hour
    result = run(FIXTURES / name, *args, url=database_url)
    assert result.exit_code == 0, result.output
    times = [r[2] for r in rows(db)]
    assert times == [utc(2023, 11, 5, 4) + timedelta(minutes=30 * i) for i in range(9)]
    assert [r[7] for r in rows(db)] == [310, 280, 295, 301, 276, 268, 255, 240, 233]


def test_a_blank_block_inside_a_repeated_dst_hour_keeps_the_file_order(tmp_path, database_url, db):
    lines = (FIXTURES / "BTCUSD_M30_202311050700_202311051000.csv").read_text().splitlines()
    path = tmp_path / "BTCUSD_M30_202311050700_202311051000.csv"
    path.write_text("\n".join([*lines[:5], "", *lines[5:]]) + "\n")  # a blank line after 08:30
    result = run(path, "--tz", "NY+7", "--jobs", "2", "--chunk-size", "1", url=database_url)
    assert result.exit_code == 0, result.output
    times = [r[2] for r in rows(db)]
    assert times == [utc(2023, 11, 5, 4) + timedelta(minutes=30 * i) for i in range(9)]


def test_a_time_skipped_by_dst_is_an_invalid_row(tmp_path, database_url, db):
    path = tmp_path / "BTCUSD_H1_202303120800_202303121000.csv"
    path.write_text(
        HEADER
        + "".join(
            f"2023.03.12\t{hour}:00:00\t1.1\t1.2\t1.0\t1.1\t5\t0\t0\n"
            for hour in ("08", "09", "10")
        )
    )
    result = run(path, "--tz", "NY+7", url=database_url)
    assert result.exit_code == 1
    assert "line 3, column 2 (TIME)" in result.stderr
    assert "does not exist" in result.stderr
    assert rows(db) == []


def test_tick_volume_by_default_real_volume_on_request(database_url, db):
    assert run(REAL_VOLUME_FILE, url=database_url).exit_code == 0
    assert [r[7] for r in rows(db)] == [5120, 4380, 3967, 3501]
    db.execute("DELETE FROM market_data_candles")
    assert run(REAL_VOLUME_FILE, "--volume", "real", url=database_url).exit_code == 0
    assert [r[7] for r in rows(db)] == [48211, 39105, 35560, 30988]


def test_real_volume_from_an_mt4_file_is_refused(database_url, db):
    result = run(FIXTURES / "GBPJPY1440.csv", "--volume", "real", url=database_url)
    assert result.exit_code == 1
    assert "no real volume column" in result.stderr
    assert rows(db) == []


BAD_ROWS = [
    ("2023.01.02\t00:56:00\t1.1\t1.0\t1.0\t1.1\t1\t0\t5\n", "column 4 (HIGH)", "high must be"),
    ("2023.01.02\t00:56:00\t1.1\tabc\t1.0\t1.1\t1\t0\t5\n", "column 4 (HIGH)", "decimal"),
    ("2023.13.02\t00:56:00\t1.1\t1.2\t1.0\t1.1\t1\t0\t5\n", "column 1 (DATE)", "does not exist"),
    ("2023.01.02\t0:56\t1.1\t1.2\t1.0\t1.1\t1\t0\t5\n", "column 2 (TIME)", "HH:MM"),
    ("2023.01.02\t00:56:00\t1.1\t1.2\t1.0\t1.1\t-4\t0\t5\n", "column 7 (TICKVOL)", "greater than"),
    ("2023.01.02\t00:56:00\t1.1\t1.2\t1.0\t1.1\tx\t0\t5\n", "column 7 (TICKVOL)", "integer"),
    ("2023.01.02\t00:56:00\t1.1\t1.2\n", "row", "expected 9 columns, found 4"),
]


@pytest.mark.parametrize(("row", "column", "reason"), BAD_ROWS)
def test_a_bad_row_in_the_middle_stores_nothing(tmp_path, database_url, db, row, column, reason):
    path = minute_file(tmp_path / "EURUSD_M1_202301020000_202301020139.csv", 100, {57: row})
    result = run(path, "--chunk-size", "10", url=database_url)  # five chunks written before it
    assert result.exit_code == 1
    assert f"{path.name}: 1 invalid row; nothing stored" in result.stderr
    assert f"line 58, {column}" in result.stderr
    assert reason in result.stderr
    assert "Traceback" not in result.output
    assert rows(db) == []


def test_a_bad_row_found_by_a_worker_process_stores_nothing(tmp_path, database_url, db):
    path = minute_file(tmp_path / "EURUSD_M1_202301020000_202301020139.csv", 100, {57: "x\n"})
    result = run(path, "--chunk-size", "10", "--jobs", "2", url=database_url)
    assert result.exit_code == 1
    assert "line 58, row: expected 9 columns, found 1" in result.stderr
    assert rows(db) == []
    again = run(minute_file(path, 100), "--chunk-size", "10", "-j", "2", url=database_url)
    assert again.exit_code == 0
    assert len(rows(db)) == 100


def test_the_first_problems_are_listed_and_all_counted(tmp_path, database_url, db):
    bad = dict.fromkeys(range(20, 80, 2), "2023.01.02\t00:00:00\t1.1\t1.0\t1.0\t1.1\t1\t0\t5\n")
    path = minute_file(tmp_path / "EURUSD_M1_202301020000_202301020139.csv", 100, bad)
    result = run(path, "--json", url=database_url)
    assert result.exit_code == 1
    summary = json.loads(result.stdout)["files"][0]
    assert (summary["rows"], summary["invalid"], summary["added"]) == (100, 30, 0)
    assert [p["line"] for p in summary["problems"]] == list(range(21, 41, 2))
    assert rows(db) == []


def test_no_atomic_keeps_the_chunks_before_a_bad_row(tmp_path, database_url, db):
    path = minute_file(tmp_path / "EURUSD_M1_202301020000_202301020139.csv", 100, {57: "x\n"})
    result = run(path, "--chunk-size", "10", "--no-atomic", url=database_url)
    assert result.exit_code == 1
    assert "50 rows stored before it" in result.stderr
    assert len(rows(db)) == 50


def test_dry_run_validates_without_a_database(tmp_path):
    result = run(M1_FILE, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "valid" in result.stdout
    path = minute_file(tmp_path / "EURUSD_M1_202301020000_202301020139.csv", 100, {57: "x\n"})
    failed = run(path, "--dry-run")
    assert failed.exit_code == 1
    assert "line 58" in failed.stderr


def test_dry_run_writes_nothing(database_url, db):
    assert run(M1_FILE, "--dry-run", url=database_url).exit_code == 0
    assert rows(db) == []


def test_a_missing_file_stops_before_anything_is_stored(database_url, db):
    result = run(M1_FILE, FIXTURES / "EURUSD_M1_nope.csv", url=database_url)
    assert result.exit_code == 4
    assert "EURUSD_M1_nope.csv: no such file" in result.stderr
    assert rows(db) == []


def test_an_empty_file_is_invalid(tmp_path, database_url, db):
    path = tmp_path / "EURUSD_M1_202301020000_202301020004.csv"
    path.write_bytes(b"")
    result = run(path, url=database_url)
    assert result.exit_code == 1
    assert "the file is empty" in result.stderr


def test_a_header_only_file_imports_no_rows(tmp_path, database_url, db):
    path = tmp_path / "EURUSD_M1_202301020000_202301020004.csv"
    path.write_text(HEADER)
    result = run(path, url=database_url)
    assert result.exit_code == 0, result.output
    assert "no bars" in result.stdout
    assert rows(db) == []


def test_text_that_is_no_history_file_is_refused(tmp_path, database_url):
    path = tmp_path / "EURUSD_M1_202301020000_202301020004.csv"
    path.write_text("symbol,time,price\nEURUSD,2023-01-02,1.1\n")
    result = run(path, url=database_url)
    assert result.exit_code == 1
    assert "not an MT5 or MT4 export" in result.stderr


def test_standard_input(database_url, db):
    result = run(
        "-", "--symbol", "EURUSD", "--timeframe", "M1", url=database_url, stdin=M1_FILE.read_bytes()
    )
    assert result.exit_code == 0, result.output
    assert len(rows(db)) == 5


def test_standard_input_needs_symbol_and_timeframe(database_url):
    result = run("-", url=database_url, stdin=M1_FILE.read_bytes())
    assert result.exit_code == 2
    assert "--symbol" in result.stderr


def test_quiet_prints_nothing_on_success(database_url, db):
    result = run(M1_FILE, "--quiet", url=database_url)
    assert result.exit_code == 0
    assert result.output == ""
    assert len(rows(db)) == 5


def test_summary_without_a_terminal_is_a_table_and_no_progress(database_url):
    result = run(M1_FILE, url=database_url)
    assert result.stderr == ""
    for heading in ("rows", "added", "duplicates", "invalid", "seconds", "rows/s"):
        assert heading in result.stdout


def test_an_unknown_zone_is_a_usage_error(database_url):
    result = run(M1_FILE, "--tz", "Mars/Olympus", url=database_url)
    assert result.exit_code == 2
    assert "unknown time zone" in result.stderr


def test_no_database_url_is_a_usage_error():
    result = run(M1_FILE)
    assert result.exit_code == 2
    assert "DATABASE_URL" in result.stderr


def test_an_unreachable_database_is_one_line_and_exit_3():
    result = run(M1_FILE, url=f"postgresql://nobody:x@127.0.0.1:{free_port()}/none")
    assert result.exit_code == 3
    assert result.stderr.startswith("error: database unreachable")
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_connection_lost_mid_file_leaves_nothing(database_url, db):
    def terminate_after_first_chunk(report, chunk):
        if report.added == 1000:
            db.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )

    plan = FilePlan(str(SAMPLE), ImportSpec("EURUSD", "H1", parse_zone("UTC"), chunk_size=1000))
    with pytest.raises(ImportAbortedError, match="nothing from it was stored"):
        import_file(plan, database_url, on_chunk=terminate_after_first_chunk)
    assert rows(db) == []
    assert not [t for t in threading.enumerate() if t.name == "candlesvc-reader"]


def import_workers(pid: int) -> list[int]:
    """The worker processes that `pid`'s fork server started, from /proc."""
    parents, servers = {}, set()
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit():
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
                if b"multiprocessing.forkserver" in (entry / "cmdline").read_bytes():
                    servers.add(int(entry.name))
    fork_servers = {p for p in servers if parents.get(p) == pid}
    return [p for p in servers if parents.get(p) in fork_servers]


def test_a_worker_process_killed_mid_file_leaves_nothing(database_url, db):
    def kill_a_worker(report, chunk):
        if report.rows == 1000:
            os.kill(import_workers(os.getpid())[0], signal.SIGKILL)

    spec = ImportSpec("EURUSD", "H1", parse_zone("UTC"), chunk_size=500)
    with pytest.raises(WorkerFailedError, match="--jobs 1"):
        import_file(FilePlan(str(SAMPLE), spec, jobs=2), database_url, on_chunk=kill_a_worker)
    assert rows(db) == []
    result = run(SAMPLE, "--jobs", "2", url=database_url)
    assert result.exit_code == 0, result.output
    assert len(rows(db)) == 65_000


# Names that rich would read as markup: a closing tag, a style, a malformed meta tag.
MARKUP_NAMES = ["[/x].csv", "a[bold].csv", "a[@click=(].csv"]


def markup_named(tmp_path: Path, name: str, bad: dict[int, str] | None = None) -> Path:
    """A five-bar M1 export at tmp_path / name (a name with a slash gets its folder)."""
    path = tmp_path / name
    path.parent.mkdir(exist_ok=True)
    return minute_file(path, 5, bad)


@pytest.mark.parametrize("name", MARKUP_NAMES)
def test_a_missing_file_is_named_literally(tmp_path, database_url, name):
    path = tmp_path / name
    result = run(path, url=database_url)
    assert result.exit_code == 4
    assert result.stderr == f"error: {path}: no such file\n"


@pytest.mark.parametrize("name", MARKUP_NAMES)
def test_a_file_whose_name_looks_like_markup_is_imported(tmp_path, database_url, db, name):
    path = markup_named(tmp_path, name)
    result = run(path, "--symbol", "EURUSD", "--timeframe", "M1", url=database_url)
    assert result.exit_code == 0, result.output
    assert str(path) in result.stdout
    assert len(rows(db)) == 5


@pytest.mark.parametrize("name", MARKUP_NAMES)
def test_an_invalid_file_is_named_literally(tmp_path, database_url, db, name):
    path = markup_named(tmp_path, name, {3: "x\n"})
    result = run(path, "--symbol", "EURUSD", "--timeframe", "M1", url=database_url)
    assert result.exit_code == 1
    assert f"error: {path}: 1 invalid row; nothing stored\n" in result.stderr
    assert str(path) in result.stdout
    assert rows(db) == []


@pytest.mark.parametrize("name", MARKUP_NAMES)
def test_the_progress_bar_names_the_file_literally(tmp_path, database_url, name):
    path = markup_named(tmp_path, name)
    # rich draws its progress bar as on an interactive terminal
    env = os.environ | {
        "DATABASE_URL": database_url,
        "TERM": "xterm",
        "TTY_COMPATIBLE": "1",
        "TTY_INTERACTIVE": "1",
    }
    result = subprocess.run(
        [CANDLESVC, "import", path, "--symbol", "EURUSD", "--timeframe", "M1"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "rows/s" in result.stderr  # the bar was drawn
    assert path.name in result.stderr
