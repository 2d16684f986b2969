"""Bars on the days a broker's clock changes: the API places them as the importer does."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from candlesvc.cli.main import app as cli
from tests.helpers import post, rows

HEADER = "<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>\n"
EPOCH = datetime(1970, 1, 1)
# (zone, the day of a real change, the wall-clock hour it repeats or skips)
FALL_BACK = [("NY+7", datetime(2024, 11, 3), 8), ("Europe/Athens", datetime(2024, 10, 27), 3)]
SPRING_FORWARD = [("NY+7", datetime(2024, 3, 10), 9), ("Europe/Athens", datetime(2024, 3, 31), 3)]


def day_of_bars(day: datetime, repeated: int | None, skipped: int | None) -> list[datetime]:
    """A 24/7 symbol's M15 bar times on a change day, in the order a file lists them: the
    repeated hour twice (both passes), the skipped hour not at all."""
    times = []
    for quarter in range(96):
        wall = day + timedelta(minutes=15 * quarter)
        if wall.hour == skipped:
            continue
        times.append(wall)
        if wall.hour == repeated and wall.minute == 45:  # the clock goes back
            times += [wall.replace(minute=m) for m in (0, 15, 30, 45)]
    return times


def mt5_file(folder: Path, walls: list[datetime]) -> Path:
    """The bars as an MT5 export, in the given order."""
    path = folder / "BTCUSD_M15_202401010000_202401020000.csv"
    lines = [
        f"{w:%Y.%m.%d}\t{w:%H:%M:%S}\t100.0\t101.0\t99.0\t100.5\t{i}\t0\t5\n"
        for i, w in enumerate(walls)
    ]
    path.write_text(HEADER + "".join(lines))
    return path


def as_candles(walls: list[datetime], form: str) -> list[dict[str, Any]]:
    """The same bars as an EA posts them: MQL5 datetime seconds, or MT5's text."""
    stamp = {
        "epoch": lambda w: int((w - EPOCH).total_seconds()),
        "text": lambda w: f"{w:%Y.%m.%d %H:%M}",
    }[form]
    return [
        {
            "symbol": "BTCUSD",
            "timeframe": "M15",
            "timestamp": stamp(w),
            "open": "100.0",
            "high": "101.0",
            "low": "99.0",
            "close": "100.5",
            "volume": i,
        }
        for i, w in enumerate(walls)
    ]


def imported_then_emptied(walls, zone, database_url, db, folder) -> list[tuple[Any, ...]]:
    """The rows `candlesvc import` stores for these bars; the table is then emptied again."""
    result = CliRunner().invoke(
        cli,
        ["import", str(mt5_file(folder, walls)), "--tz", zone],
        env={"DATABASE_URL": database_url},
    )
    assert result.exit_code == 0, result.output
    imported = rows(db)
    db.execute("TRUNCATE market_data_candles")
    return imported


@pytest.mark.parametrize("form", ["epoch", "text"])
@pytest.mark.parametrize(("zone", "day", "hour"), FALL_BACK + SPRING_FORWARD)
def test_a_batch_across_a_change_is_placed_as_the_importer_places_the_file(
    client, db, database_url, tmp_path, zone, day, hour, form
):
    repeated = hour if (zone, day, hour) in FALL_BACK else None
    walls = day_of_bars(day, repeated, None if repeated else hour)
    imported = imported_then_emptied(walls, zone, database_url, db, tmp_path)
    response = post(client, {"source_tz": zone, "candles": as_candles(walls, form)})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["records_added"] == len(walls)
    assert rows(db) == imported
    assert len({row[2] for row in imported}) == len(walls)


@pytest.mark.parametrize(("zone", "day", "hour"), FALL_BACK)
def test_bars_sent_one_by_one_land_where_the_importer_puts_a_single_pass(
    client, db, database_url, tmp_path, zone, day, hour
):
    walls = day_of_bars(day, None, None)  # as an MT5 series holds them: each wall time once
    imported = imported_then_emptied(walls, zone, database_url, db, tmp_path)
    for candle in as_candles(walls, "epoch"):
        assert post(client, {"source_tz": zone, "candles": [candle]}).status_code == 201
    assert rows(db) == imported


def test_out_of_order_times_in_a_repeated_hour_go_back_to_the_second_pass(client, db):
    walls = ["2024.11.03 08:30", "2024.11.03 08:10", "2024.11.03 08:20"]  # NY+7 repeats 08:xx
    candles = [
        {
            "symbol": "BTCUSD",
            "timeframe": "M1",
            "timestamp": w,
            "open": 1,
            "high": 1,
            "low": 1,
            "close": 1,
            "volume": 0,
        }
        for w in walls
    ]
    assert post(client, {"source_tz": "NY+7", "candles": candles}).status_code == 201
    first_pass = datetime(2024, 11, 3, 5, tzinfo=UTC)  # NY 01:00 EDT
    assert [r[2] for r in rows(db)] == [
        first_pass + timedelta(minutes=30),
        first_pass + timedelta(hours=1, minutes=10),
        first_pass + timedelta(hours=1, minutes=20),
    ]


@pytest.mark.parametrize(
    ("zone", "wall"), [("NY+7", "2024.03.10 09:30"), ("Europe/Athens", "2024.03.31 03:30")]
)
def test_a_time_a_change_skips_is_refused(client, db, zone, wall):
    candle = {
        "symbol": "BTCUSD",
        "timeframe": "M1",
        "timestamp": wall,
        "open": 1,
        "high": 1,
        "low": 1,
        "close": 1,
        "volume": 0,
    }
    response = post(client, {"source_tz": zone, "candles": [candle]})
    assert response.status_code == 422
    assert "skipped by a DST change" in response.get_json()["errors"][0]["msg"]
    assert rows(db) == []
