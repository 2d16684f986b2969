"""History-file reading without a database: names, encodings, layouts, broker clocks."""

import codecs
import gc
import io
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from candlesvc.history import pipeline
from candlesvc.history import rows as histrows
from candlesvc.history.clock import WallClock
from candlesvc.history.files import (
    FormatError,
    NameHints,
    detect_layout,
    hints_from_name,
    open_text,
)
from candlesvc.history.rows import Chunk, ImportSpec, parse_block, read_blocks
from candlesvc.model.timezones import parse_zone, wall_to_utc
from candlesvc.store.encoding import EncodedBatch
from tests.helpers import FIXTURES, copy_rows

HEADER = "<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>"


@pytest.mark.parametrize(
    ("name", "symbol", "timeframe"),
    [
        ("EURUSD_M1_202301020000_202312292359.csv", "EURUSD", "M1"),
        ("USDCHF!_M5_202301020000_202605061250.csv", "USDCHF!", "M5"),
        ("/data/exports/XAUUSD.pro_H4_202301020000_202312292000.csv", "XAUUSD.pro", "H4"),
        ("#AAPL_D1_202301020000_202312290000.csv", "#AAPL", "D1"),
        ("WDO$N_MN1_202301010000_202312010000.csv", "WDO$N", "MN1"),
        ("EURUSD+_W1_202301010000_202312310000.csv", "EURUSD+", "W1"),
        ("US Oil_M30_202301020000_202312292330.csv", "US Oil", "M30"),
        ("EUR_USD_H1_202301020000_202312292300.csv", "EUR_USD", "H1"),
        ("GBPUSD_M15.csv", "GBPUSD", "M15"),
        ("GBPUSD_M1_202301021230.csv", "GBPUSD", "M1"),
        ("EURUSD60.csv", "EURUSD", "H1"),
        ("EURUSD1440.csv", "EURUSD", "D1"),
        ("EURUSD1.csv", "EURUSD", "M1"),
        ("GBPJPY240.csv", "GBPJPY", "H4"),
        ("US3015.csv", "US30", "M15"),
        ("XAUUSD.pro10080.csv", "XAUUSD.pro", "W1"),
        ("EURUSD43200.csv", "EURUSD", "MN1"),
    ],
)
def test_symbol_and_timeframe_from_the_file_name(name, symbol, timeframe):
    assert hints_from_name(name) == NameHints(symbol, timeframe)


@pytest.mark.parametrize("name", ["prices.csv", "EURUSD.csv", "EURUSD_X9_2023.csv", "-"])
def test_names_that_say_nothing(name):
    assert hints_from_name(name) == NameHints()


@pytest.mark.parametrize(
    ("bom", "encoding"),
    [
        (b"", "utf-8"),
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ],
)
def test_the_bom_picks_the_encoding_and_is_skipped(bom, encoding):
    text = open_text(io.BytesIO(bom + f"{HEADER}\r\nnext\r\n".encode(encoding)))
    assert text.encoding == encoding
    assert text.read() == HEADER + "\nnext\n"


def test_layouts():
    tab = detect_layout(HEADER + "\n")
    assert (tab.kind, tab.separator, tab.columns[:2]) == ("MT5", "\t", ("DATE", "TIME"))
    comma = detect_layout("<DATE>,<OPEN>,<HIGH>,<LOW>,<CLOSE>,<TICKVOL>,<VOL>,<SPREAD>\r\n")
    assert (comma.separator, comma.find("TIME"), comma.find("OPEN")) == (",", None, 1)
    mt4 = detect_layout("2018.01.31,17:00,1.24584,1.24656,1.24547,1.24595,2869\n")
    assert (mt4.kind, mt4.has_header, mt4.label(6)) == ("MT4", False, "column 7 (VOLUME)")


@pytest.mark.parametrize(
    ("line", "message"),
    [("<DATE>\t<TIME>\t<OPEN>\t<CLOSE>", "lacks <HIGH>, <LOW>"), ("a,b,c", "not an MT5 or MT4")],
)
def test_unknown_layouts_are_refused(line, message):
    with pytest.raises(FormatError, match=message):
        detect_layout(line)


def test_wall_to_utc_reports_repeats_and_refuses_gaps():
    ny7 = parse_zone("NY+7")
    assert wall_to_utc(ny7, datetime(2023, 7, 3, 10)) == (
        datetime(2023, 7, 3, 7, tzinfo=UTC),
        timedelta(0),
    )
    assert wall_to_utc(ny7, datetime(2023, 11, 5, 8, 30)) == (
        datetime(2023, 11, 5, 5, 30, tzinfo=UTC),
        timedelta(hours=1),
    )
    with pytest.raises(ValueError, match="does not exist"):
        wall_to_utc(ny7, datetime(2023, 3, 12, 9, 30))
    assert wall_to_utc(parse_zone("+02:00"), datetime(2023, 1, 1))[0] == datetime(
        2022, 12, 31, 22, tzinfo=UTC
    )


def instants(clock: WallClock, walls: list[str]) -> list[datetime]:
    """The instants a clock gives a file's wall times ('YYYY.MM.DD HH:MM')."""
    result = []
    for wall in walls:
        day, time = wall.split()
        stamp = clock.days[day] + clock.times[time]
        result.append(stamp if stamp.tzinfo else clock.resolve(stamp))
    return result


def test_a_repeated_hour_of_minute_bars_is_read_in_file_order():
    minutes = [f"2023.10.29 03:{m:02}" for m in range(60)]  # Europe/Athens repeats 03:00-03:59
    walls = ["2023.10.29 02:59", *minutes, *minutes, "2023.10.29 04:00"]
    stamps = instants(WallClock(parse_zone("Europe/Athens")), walls)
    start = datetime(2023, 10, 28, 23, 59, tzinfo=UTC)
    assert stamps == [start + timedelta(minutes=i) for i in range(122)]


def test_plain_days_and_fixed_offsets_need_no_resolving():
    clock = WallClock(parse_zone("+03:00"))
    assert clock.days["2023.10.29"] == datetime(2023, 10, 28, 21, tzinfo=UTC)
    assert WallClock(parse_zone("Europe/Athens")).days["2023.10.29"].tzinfo is None


@pytest.mark.parametrize(
    ("day", "time", "message"),
    [
        ("2023/01/02", "00:00", "YYYY.MM.DD"),
        ("2023.02.29", "00:00", "does not exist"),
        ("2023.01.02", "24:00", "HH:MM"),
        ("2023.01.02", "7:00", "HH:MM"),
    ],
)
def test_bad_dates_and_times(day, time, message):
    clock = WallClock(parse_zone("UTC"))
    with pytest.raises(ValueError, match=message):
        _ = clock.days[day] + clock.times[time]


@pytest.mark.parametrize("jobs", [1, 2])
def test_chunks_keep_their_size_and_problems_their_lines(db, jobs):
    rows = [f"2023.01.02\t00:{m:02}:00\t1.1\t1.2\t1.0\t1.1\t{m}\t0\t0" for m in range(25)]
    rows[12] = "2023.01.02\t00:12:00\t1.1\t1.2\t1.0\t1.1\t-1\t0\t0"
    data = "\r\n".join([HEADER, *rows, "", ""]).encode("utf-16-le")
    spec = ImportSpec("EURUSD", "m1", parse_zone("UTC"), chunk_size=10)
    chunks = list(read_chunks(io.BytesIO(codecs.BOM_UTF16_LE + data), spec, jobs))
    assert [(c.rows, c.invalid, c.batch and c.batch.size) for c in chunks] == [
        (10, 0, 10),
        (10, 1, None),
        (5, 0, 5),
    ]
    assert [str(p) for p in chunks[1].problems] == [
        "line 14, column 7 (TICKVOL): Input should be greater than or equal to 0"
    ]
    first, last = chunks[0].batch, chunks[2].batch
    assert first
    assert copy_rows(db, first)[0][0] == (
        "EURUSD",
        "M1",
        "2023-01-02 00:00:00+00",
        "1.1",
        "1.2",
        "1.0",
        "1.1",
        "0",
    )
    assert last
    assert copy_rows(db, last)[0][-1] == (
        "EURUSD",
        "M1",
        "2023-01-02 00:24:00+00",
        "1.1",
        "1.2",
        "1.0",
        "1.1",
        "24",
    )


def test_the_first_blocks_grow_to_the_chunk_size():
    start = datetime(2023, 1, 2)
    rows = [
        f"{start + timedelta(minutes=m):%Y.%m.%d\t%H:%M}:00\t1.1\t1.2\t1.0\t1.1\t{m}\t0\t0"
        for m in range(12_000)
    ]
    data = "\n".join([HEADER, *rows, ""]).encode()
    spec = ImportSpec("EURUSD", "M1", parse_zone("UTC"), chunk_size=4_000)
    chunks = list(read_chunks(io.BytesIO(data), spec, 1))
    assert [(c.rows, c.batch and c.batch.size) for c in chunks] == [
        (1_000, 1_000),
        (2_000, 2_000),
        (4_000, 4_000),
        (4_000, 4_000),
        (1_000, 1_000),
    ]


@pytest.mark.parametrize(("symbol", "timeframe"), [(" EURUSD", "M1"), ("EURUSD", "M7"), ("", "H1")])
def test_symbol_and_timeframe_are_checked_once_by_the_model(symbol, timeframe):
    with pytest.raises(ValueError, match=r"invalid symbol|unknown timeframe"):
        ImportSpec(symbol, timeframe, parse_zone("UTC"))


def test_a_row_with_several_faults_counts_once_and_blank_lines_not_at_all():
    data = f"{HEADER}\n\n2023.01.32\t00:00:00\t1.1\t1.2\t1.0\t1.1\tx\t0\t0\n\n".encode()
    [chunk] = read_chunks(io.BytesIO(data), ImportSpec("EURUSD", "M1", parse_zone("UTC")), 1)
    assert (chunk.rows, chunk.invalid, [p.line for p in chunk.problems]) == (1, 1, [3])


@pytest.mark.parametrize(("short", "long"), [(2, 5), (5, 2), (3, 4), (0, 6)])
def test_rows_too_short_and_too_long_in_balance_are_each_refused(short, long):
    rows = [f"2023.01.02\t00:{m:02}:00\t1.1\t1.2\t1.0\t1.1\t{m}\t0\t0" for m in range(7)]
    rows[short] = rows[short].removesuffix("\t0")
    rows[long] += "\t0"
    data = "\n".join([HEADER, *rows]).encode()
    [chunk] = read_chunks(io.BytesIO(data), ImportSpec("EURUSD", "M1", parse_zone("UTC")), 1)
    assert (chunk.rows, chunk.invalid, chunk.batch) == (7, 2, None)
    assert sorted(p.line for p in chunk.problems) == sorted([short + 2, long + 2])


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.csv")), ids=lambda path: path.name)
def test_valid_blocks_are_read_at_once_exactly_as_row_by_row(db, path, monkeypatch):
    hints = hints_from_name(path.name)
    spec = ImportSpec(hints.symbol or "", hints.timeframe or "", parse_zone("UTC"), chunk_size=7)
    assert_read_at_once_as_row_by_row(db, path.read_bytes(), spec, monkeypatch)


def test_a_price_the_model_reads_itself_is_read_at_once_too(db, monkeypatch):
    rows = [
        "2024.01.02\t10:00\t1.5E0\t2\t1\t1.5\t3\t0\t0",
        "2024.01.02\t10:01\t1\t2\t1\t1\t4\t0\t0",
    ]
    data = "\n".join([HEADER, *rows, ""]).encode()
    spec = ImportSpec("X", "M1", parse_zone("UTC"))
    assert not only_batch(data, spec).binary
    assert_read_at_once_as_row_by_row(db, data, spec, monkeypatch)


@pytest.mark.parametrize(("symbol", "binary"), [("EURUSD", True), ("\u00d6l \\ Brent", False)])
def test_blocks_of_plain_decimals_are_binary_unless_their_symbol_is_not_ascii(
    db, symbol, binary, monkeypatch
):
    data = (FIXTURES / "EURUSD_M1_202301020000_202301020004.csv").read_bytes()
    spec = ImportSpec(symbol, "M1", parse_zone("UTC"))
    assert only_batch(data, spec).binary is binary
    assert_read_at_once_as_row_by_row(db, data, spec, monkeypatch)


def read_chunks(binary: Any, spec: ImportSpec, jobs: int) -> list[Chunk]:
    """A file's chunks as the importer's pipeline makes them."""
    return list(pipeline.chunks(read_blocks(binary, spec), spec, jobs, pipeline.Demand()))


def only_batch(data: bytes, spec: ImportSpec) -> EncodedBatch:
    """The encoded batch of a file that is one block."""
    [block] = read_blocks(io.BytesIO(data), spec)
    batch = parse_block(block, spec).batch
    assert batch
    return batch


def assert_read_at_once_as_row_by_row(db, data: bytes, spec: ImportSpec, monkeypatch) -> None:
    blocks = list(read_blocks(io.BytesIO(data), spec))
    assert all(histrows._read_at_once(block, spec) is not None for block in blocks)
    both = [(block, lines) for lines in (True, False) for block in blocks]
    at_once = comparable(db, [parse_block(block, spec, lines=lines) for block, lines in both])
    monkeypatch.setattr(histrows, "_read_at_once", lambda block, spec, lines: None)
    assert at_once == comparable(
        db, [parse_block(block, spec, lines=lines) for block, lines in both]
    )


def comparable(db, chunks: list[Chunk]) -> list[tuple[Any, ...]]:
    """Chunks with their COPY data as texts, whichever their format."""
    batches = [chunk.batch for chunk in chunks]
    assert all(batches)
    rows = copy_rows(db, *batches)  # type: ignore[arg-type]
    return [
        (replace(chunk, batch=None), copied, batch.times, batch.series, batch.ascending)
        for chunk, batch, copied in zip(chunks, batches, rows, strict=True)
        if batch
    ]


@pytest.mark.parametrize("zone", ["UTC", "Europe/Athens"])  # Athens: the DST-change days too
def test_parsing_leaves_no_garbage_for_the_cycle_collector(zone):
    # The importer collects garbage rarely; a reference cycle per block would pile up.
    path = FIXTURES / "EURUSD60.csv"
    spec = ImportSpec("EURUSD", "H1", parse_zone(zone), chunk_size=5_000)
    blocks = list(read_blocks(io.BytesIO(path.read_bytes()), spec))  # 13 blocks, 9 years
    gc.collect()
    gc.disable()
    try:
        cycles = [(parse_block(block, spec), gc.collect())[1] for block in blocks]
    finally:
        gc.enable()
    assert cycles == [0] * len(blocks)


# ---- the two readers of a block, on generated files -----------------------------------------

LAYOUTS = {  # header (None: MT4, no header), separator, whether rows carry a time column
    "MT5 tab": ("<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>", "\t"),
    "MT5 comma": ("<DATE>,<TIME>,<OPEN>,<HIGH>,<LOW>,<CLOSE>,<TICKVOL>,<VOL>,<SPREAD>", ","),
    "MT5 daily": ("<DATE>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>", "\t"),
    "MT4": (None, ","),
}
PRICE_TEXTS = st.sampled_from(["1.1", "1.10000", "0.9", "1", "-2.5", "1.5E0", "007.25", "1.0"])
STARTS = st.sampled_from(
    [
        datetime(2023, 1, 2),
        datetime(2024, 3, 31),
        datetime(2024, 10, 27),
        datetime(2024, 11, 3, 6),
        datetime(2024, 3, 10, 6),
    ]
)
ZONES = st.sampled_from(["UTC", "+02:00", "NY+7", "Europe/Athens"])


@st.composite
def generated_files(draw: st.DrawFn) -> tuple[bytes, ImportSpec]:
    """An export of one layout: mostly valid rows, some broken, across DST changes at times."""
    layout = draw(st.sampled_from(sorted(LAYOUTS)))
    header, sep = LAYOUTS[layout]
    daily = layout == "MT5 daily"
    step = timedelta(days=1) if daily else timedelta(minutes=draw(st.sampled_from([1, 15, 60])))
    seconds = draw(st.booleans()) and layout != "MT4"
    start, count = draw(STARTS), draw(st.integers(1, 40))
    lines = [] if header is None else [header]
    for i in range(count):
        wall = start + i * step
        date, time = f"{wall:%Y.%m.%d}", f"{wall:%H:%M:%S}" if seconds else f"{wall:%H:%M}"
        prices = sorted(draw(st.lists(PRICE_TEXTS, min_size=4, max_size=4)), key=Decimal)
        low, first, second, high = prices if draw(st.integers(0, 59)) else reversed(prices)
        volume = str(draw(st.integers(0, 99))) if draw(st.integers(0, 59)) else "-1"
        fields = [date, *([] if daily else [time]), first, high, low, second, volume]
        if header is not None:
            fields += ["0", "5"]
        if not draw(st.integers(0, 29)):
            fields = draw(
                st.sampled_from([fields[:-1], [*fields, "9"], ["2023.02.30", *fields[1:]]])
            )
        lines.append(sep.join(fields))
    name = draw(ZONES)
    spec = ImportSpec(
        "EURUSD", "D1" if daily else "M1", parse_zone(name), chunk_size=draw(st.integers(1, 50))
    )
    return ("\n".join(lines) + "\n").encode(), spec


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(generated=generated_files(), lines=st.booleans())
def test_the_column_reader_agrees_with_the_row_reader_on_generated_files(db, generated, lines):
    data, spec = generated
    try:
        blocks = list(read_blocks(io.BytesIO(data), spec))
    except FormatError:  # an MT4 file whose first row is broken: no layout to read
        return
    for block in blocks:
        at_once = histrows._read_at_once(block, spec, lines)
        event("read at once" if at_once is not None else "read row by row only")
        if at_once is None:
            continue  # the row reader alone decides such blocks
        by_rows = histrows._read_row_by_row(block, spec, None, lines)
        assert (by_rows.rows, by_rows.invalid) == (at_once.size, 0)
        assert by_rows.batch
        assert (at_once.times, at_once.series, at_once.ascending) == (
            by_rows.batch.times,
            by_rows.batch.series,
            by_rows.batch.ascending,
        )
        assert copy_rows(db, at_once, by_rows.batch) == [copy_rows(db, by_rows.batch)[0]] * 2
