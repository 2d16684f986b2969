"""GET /api/v1/series and /api/v1/series/gaps, and paging back through a series."""

from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import API_KEY
from tests.helpers import candle, post

KEY = {"X-API-KEY": API_KEY}


def minutes(*offsets: int, symbol: str = "EURUSD", start: str = "2024-01-02T10:00:00Z"):
    """M1 candles at these minutes after `start`."""
    first = datetime.fromisoformat(start)
    return [
        candle(symbol=symbol, timestamp=(first + timedelta(minutes=m)).isoformat(), volume=m)
        for m in offsets
    ]


def test_the_catalogue_lists_each_series_with_exact_counts(client, db):
    post(client, {"candles": minutes(0, 1, 2) + minutes(5, symbol="GBPUSD")})
    post(client, {"candles": minutes(3)})
    answer = client.get("/api/v1/series", headers=KEY).get_json()
    assert answer["counts"] == "exact"
    [eurusd, gbpusd] = answer["series"]
    assert (eurusd["symbol"], eurusd["timeframe"], eurusd["bars"]) == ("EURUSD", "M1", 4)
    assert (eurusd["first"], eurusd["last"]) == ("2024-01-02T10:00:00Z", "2024-01-02T10:03:00Z")
    assert gbpusd["bars"] == 1
    assert eurusd["received_at"].endswith("Z")
    assert eurusd["age_seconds"] > 0
    only = client.get("/api/v1/series?symbol=GBPUSD&timeframe=m1", headers=KEY).get_json()
    assert [s["symbol"] for s in only["series"]] == ["GBPUSD"]


def test_the_catalogue_needs_a_key_and_valid_filters(client):
    assert client.get("/api/v1/series").status_code == 401
    answer = client.get("/api/v1/series?timeframe=M7", headers=KEY)
    assert answer.status_code == 422
    assert answer.get_json()["errors"][0]["loc"] == "timeframe"


def test_gaps_are_consecutive_bars_further_apart_than_the_timeframe(client):
    post(client, {"candles": minutes(0, 1, 4, 5, 6, 20)})
    answer = client.get("/api/v1/series/gaps?symbol=EURUSD&timeframe=M1", headers=KEY).get_json()
    assert [
        (g["after"], g["first_missing"], g["last_missing"], g["missing"]) for g in answer["gaps"]
    ] == [
        ("2024-01-02T10:01:00Z", "2024-01-02T10:02:00Z", "2024-01-02T10:03:00Z", 2),
        ("2024-01-02T10:06:00Z", "2024-01-02T10:07:00Z", "2024-01-02T10:19:00Z", 13),
    ]
    assert (answer["missing"], answer["truncated"]) == (15, False)
    bigger = client.get(
        "/api/v1/series/gaps?symbol=EURUSD&timeframe=M1&min_missing=3&limit=1", headers=KEY
    ).get_json()
    assert [g["missing"] for g in bigger["gaps"]] == [13]
    later = client.get(
        "/api/v1/series/gaps?symbol=EURUSD&timeframe=M1&from=2024-01-02T10:04:00Z", headers=KEY
    ).get_json()
    assert [g["missing"] for g in later["gaps"]] == [13]


def test_the_fx_weekend_is_no_gap_on_the_brokers_clock(client):
    friday = [candle(timestamp=f"2024.01.05 23:{m}", volume=1) for m in (58, 59)]
    monday = [candle(timestamp=f"2024.01.08 00:0{m}", volume=1) for m in (0, 1)]
    post(client, {"source_tz": "NY+7", "candles": friday + monday})
    url = "/api/v1/series/gaps?symbol=EURUSD&timeframe=M1&source_tz=NY%2B7"
    assert client.get(url, headers=KEY).get_json()["missing"] == 2 * 1440
    closed = client.get(url + "&weekend=true", headers=KEY).get_json()
    assert (closed["gaps"], closed["weekend"], closed["source_tz"]) == ([], True, "NY+7")


@pytest.mark.parametrize(
    "query",
    [
        "symbol=EURUSD",
        "symbol=EURUSD&timeframe=M1&min_missing=0",
        "symbol=EURUSD&timeframe=M1&from=2024-01-02T00:00:00Z&to=2024-01-01T00:00:00Z",
        "symbol=EURUSD&timeframe=M1&weekend=maybe",
        "symbol=EURUSD&timeframe=M1&x=1",
    ],
)
def test_bad_gap_queries_are_422(client, query):
    assert client.get(f"/api/v1/series/gaps?{query}", headers=KEY).status_code == 422


def test_a_series_pages_back_from_its_newest_bar(client):
    post(client, {"candles": minutes(*range(10))})
    url = "/api/v1/candles?symbol=EURUSD&timeframe=M1&order=desc&limit=4"
    seen, cursor = [], None
    while True:
        page = client.get(url + (f"&cursor={cursor}" if cursor else ""), headers=KEY).get_json()
        seen += [c["timestamp"] for c in page["candles"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    expected = [
        (datetime(2024, 1, 2, 10, tzinfo=UTC) + timedelta(minutes=m)).isoformat()
        for m in reversed(range(10))
    ]
    assert seen == [e.replace("+00:00", "Z") for e in expected]
    before = client.get(url + "&to=2024-01-02T10:05:00Z", headers=KEY).get_json()
    assert [c["timestamp"][14:16] for c in before["candles"]] == ["04", "03", "02", "01"]
