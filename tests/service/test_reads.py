"""Read side: latest bar per pair, paged listing (JSON and CSV), errors, and query plans."""

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from psycopg import ClientCursor, sql

from candlesvc.model.candle import EARLIEST, LATEST
from candlesvc.service.app import create_app
from candlesvc.store import series, table
from candlesvc.store.localdb import free_port
from tests.conftest import API_KEY
from tests.helpers import candle, minute_candles, post

KEY = {"X-API-KEY": API_KEY}
JAN_2 = 1_704_153_600  # 2024-01-02T00:00:00Z, where minute_candles starts


def get(client: Any, path: str, **params: Any) -> Any:
    """GET a read endpoint with the API key."""
    return client.get(path, query_string=params, headers=KEY)


def test_latest_needs_the_key(client):
    response = client.get("/api/v1/candles/latest?symbol=EURUSD&timeframe=M1")
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"


def test_latest_is_404_when_nothing_is_stored(client):
    response = get(client, "/api/v1/candles/latest", symbol="EURUSD", timeframe="M1")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["detail"] == "no candles stored for EURUSD M1"


def test_latest_returns_the_newest_bar_in_utc_and_on_the_server_clock(client):
    post(client, {"candles": minute_candles(3)})
    post(client, {"candles": [candle(timeframe="H1", timestamp=JAN_2 + 7200)]})
    body = get(client, "/api/v1/candles/latest", symbol="EURUSD", timeframe="m1").get_json()
    assert body == {
        "symbol": "EURUSD",
        "timeframe": "M1",
        "source_tz": "UTC",
        "timestamp": "2024-01-02T00:02:00Z",
        "epoch": JAN_2 + 120,
        "server_time": JAN_2 + 120,
        "candle": {
            "timestamp": "2024-01-02T00:02:00Z",
            "open": "1.1",
            "high": "1.2",
            "low": "1.0",
            "close": "1.15",
            "volume": 2,
        },
    }


@pytest.mark.parametrize(
    ("zone", "shift"), [("NY+7", 2 * 3600), ("+03:00", 3 * 3600), ("America/New_York", -5 * 3600)]
)
def test_latest_server_time_is_the_wall_clock_of_source_tz(client, zone, shift):
    post(client, {"candles": minute_candles(1)})
    body = get(client, "/api/v1/candles/latest", symbol="EURUSD", timeframe="M1", source_tz=zone)
    assert body.get_json()["server_time"] == JAN_2 + shift
    assert body.get_json()["epoch"] == JAN_2


def test_latest_server_time_follows_the_dst_rule_of_the_bar_not_of_today(client):
    summer = 1_719_835_200  # 2024-07-01T12:00:00Z: NY+7 is UTC+3 then
    post(client, {"candles": [candle(timestamp="2024-07-01T12:00:00Z")]})
    body = get(client, "/api/v1/candles/latest", symbol="EURUSD", timeframe="M1", source_tz="NY+7")
    assert body.get_json()["server_time"] == summer + 3 * 3600


def test_prices_are_exact_decimal_strings(client):
    bar = candle(open="0.00000001", high="1.10000000000000000001", low="0", close="0.5")
    post(client, {"candles": [bar]})
    body = get(client, "/api/v1/candles/latest", symbol="EURUSD", timeframe="M1").get_json()
    assert body["candle"]["open"] == "0.00000001"
    assert body["candle"]["high"] == "1.10000000000000000001"


def test_latest_for_several_pairs_in_request_order(client):
    post(client, {"candles": minute_candles(2, symbol="US Oil:cash")})
    post(client, {"candles": [candle(timeframe="H1")]})
    pairs = ["EURUSD:H1", "GBPUSD:M1", "US Oil:cash:M1"]
    body = get(client, "/api/v1/candles/latest", pair=pairs, source_tz="+02:00").get_json()
    assert body["source_tz"] == "+02:00"
    found = [(p["symbol"], p["timeframe"], p["timestamp"]) for p in body["pairs"]]
    assert found == [
        ("EURUSD", "H1", "2024-01-02T10:00:00Z"),
        ("GBPUSD", "M1", None),
        ("US Oil:cash", "M1", "2024-01-02T00:01:00Z"),
    ]
    assert body["pairs"][0]["server_time"] == JAN_2 + 12 * 3600
    assert body["pairs"][1]["candle"] is None


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"pair": ["EURUSD"]}, "pair[0]"),
        ({"pair": ["EURUSD:M7"]}, "pair[0][1]"),
        ({"pair": [f"S{i}:M1" for i in range(101)]}, "pair"),
        ({"pair": ["EURUSD:M1"], "symbol": "EURUSD"}, "symbol"),
        ({"symbol": "EURUSD", "timeframe": "M1", "source_tz": "Mars/Base"}, "source_tz"),
        ({"symbol": " EURUSD", "timeframe": "M1"}, "symbol"),
        ({"symbol": "EURUSD"}, "timeframe"),
        ({"symbol": "EURUSD", "timeframe": "M1", "since": "1"}, "since"),
    ],
)
def test_latest_rejects_bad_parameters_by_name(client, params, loc):
    response = get(client, "/api/v1/candles/latest", **params)
    assert response.status_code == 422
    assert loc in [e["loc"] for e in response.get_json()["errors"]]


def test_listing_pages_through_every_bar_once_in_time_order(client):
    post(client, {"candles": minute_candles(25)})
    post(client, {"candles": minute_candles(5, symbol="GBPUSD")})
    seen, cursor, pages = [], None, 0
    while True:
        params = {"symbol": "EURUSD", "timeframe": "M1", "limit": 10}
        body = get(client, "/api/v1/candles", **params, **({"cursor": cursor} if cursor else {}))
        page = body.get_json()
        seen += [c["volume"] for c in page["candles"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(range(25))
    assert pages == 3


def test_listing_range_is_from_inclusive_to_exclusive(client):
    post(client, {"candles": minute_candles(10)})
    params = {"from": str(JAN_2 + 120), "to": "2024-01-02T02:05:00+02:00"}
    page = get(client, "/api/v1/candles", symbol="EURUSD", timeframe="M1", **params).get_json()
    assert [c["timestamp"][11:16] for c in page["candles"]] == ["00:02", "00:03", "00:04"]
    assert page["next_cursor"] is None


def test_listing_has_no_cursor_when_the_page_ends_exactly(client):
    post(client, {"candles": minute_candles(4)})
    page = get(client, "/api/v1/candles", symbol="EURUSD", timeframe="M1", limit=4).get_json()
    assert len(page["candles"]) == 4
    assert page["next_cursor"] is None


def test_listing_as_csv_by_parameter_or_accept_header(client):
    post(client, {"candles": minute_candles(3, symbol="US Oil, WTI")})
    by_param = get(
        client, "/api/v1/candles", symbol="US Oil, WTI", timeframe="M1", format="csv", limit=2
    )
    by_header = client.get(
        "/api/v1/candles",
        query_string={"symbol": "US Oil, WTI", "timeframe": "M1", "limit": 2},
        headers=KEY | {"Accept": "text/csv"},
    )
    for response in (by_param, by_header):
        assert response.mimetype == "text/csv"
        assert "X-Next-Cursor" in response.headers
        assert "Accept" in response.headers["Vary"]
        table = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
        assert table[0] == [
            "symbol",
            "timeframe",
            "timestamp",
            "open",
            "high",
            "low",
            "close",
            "volume",
        ]
        assert table[1] == [
            "US Oil, WTI",
            "M1",
            "2024-01-02T00:00:00Z",
            "1.1",
            "1.2",
            "1.0",
            "1.15",
            "0",
        ]
        assert len(table) == 3


def test_listing_answers_json_to_an_mt5_style_accept(client):
    post(client, {"candles": minute_candles(1)})
    response = client.get(
        "/api/v1/candles?symbol=EURUSD&timeframe=M1", headers=KEY | {"Accept": "*/*"}
    )
    assert response.mimetype == "application/json"


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "10001"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"from": "2024-01-02T00:00:00"}, "from"),
        ({"from": "yesterday"}, "from"),
        ({"from": "2024-01-02T00:00:00Z", "to": "2024-01-02T00:00:00Z"}, "to"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"format": "xml"}, "format"),
        ({"timeframe": "Y1"}, "timeframe"),
    ],
)
def test_listing_rejects_bad_parameters_by_name(client, params, loc):
    response = get(client, "/api/v1/candles", **({"symbol": "EURUSD", "timeframe": "M1"} | params))
    assert response.status_code == 422
    body = response.get_json()
    assert [e["loc"] for e in body["errors"]] == [loc]
    assert body["status"] == 422


def test_reads_answer_503_with_retry_after_when_the_database_is_down():
    env = {
        "DATABASE_URL": f"postgresql://nobody:x@127.0.0.1:{free_port()}/candles",
        "MT5_API_KEY": API_KEY,
        "POOL_TIMEOUT_MS": "300",
    }
    app = create_app(env)
    try:
        client = app.test_client()
        for path in ("/api/v1/candles/latest", "/api/v1/candles"):
            response = get(client, path, symbol="EURUSD", timeframe="M1")
            assert response.status_code == 503
            assert response.headers["Retry-After"] == "5"
    finally:
        app.extensions["candlesvc.pool"].close()


def test_openapi_documents_the_read_endpoints(client):
    doc = client.get("/openapi.json").get_json()
    listing = doc["paths"]["/api/v1/candles"]["get"]
    latest = doc["paths"]["/api/v1/candles/latest"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {
        "symbol",
        "timeframe",
        "from",
        "to",
        "limit",
        "cursor",
        "format",
        "order",
    }
    assert {p["name"] for p in latest["parameters"]} == {"symbol", "timeframe", "pair", "source_tz"}
    assert "text/csv" in listing["responses"]["200"]["content"]
    assert set(latest["responses"]) >= {"200", "401", "404", "422", "503"}
    schemas = doc["components"]["schemas"]
    assert set(schemas["Latest"]["properties"]) >= {"timestamp", "epoch", "server_time"}
    assert "next_cursor" in schemas["CandlePage"]["properties"]


# Query plans on a few million rows: the exact SQL of candlesvc/reads.py, planned both
# with the values (custom plan) and as the pool's prepared statements are (generic plan).
FILL = """
INSERT INTO market_data_candles (symbol, timeframe, "timestamp", open, high, low, close, volume)
SELECT 'SYM' || s, 'M1', timestamptz '2020-01-01Z' + m * interval '1 minute', 1.1, 1.2, 1.0, 1.15, m
FROM generate_series(1, 20) AS s, generate_series(0, 99999) AS m
"""
PLAN_CASES: list[tuple[str, sql.Composed, dict[str, Any]]] = [
    (
        "newest page, paging back",
        table.PAGE_BACKWARD,
        {"symbol": "SYM7", "timeframe": "M1", "start": EARLIEST, "end": LATEST, "limit": 1001},
    ),
    ("series catalogue", series.catalogue_query(False), {"symbol": None, "timeframe": None}),
    ("one symbol's series", series.catalogue_query(True), {"symbol": "SYM7", "timeframe": "M1"}),
    (
        "gaps of a series",
        series.SPANS,
        {
            "symbol": "SYM7",
            "timeframe": "M1",
            "start": EARLIEST,
            "end": LATEST,
            "step": timedelta(minutes=1),
        },
    ),
    ("latest, one pair", table.LATEST, {"symbols": ["SYM7"], "timeframes": ["M1"]}),
    (
        "latest, three pairs",
        table.LATEST,
        {"symbols": ["SYM3", "SYM7", "NONE"], "timeframes": ["M1", "M1", "H1"]},
    ),
    (
        "first page",
        table.PAGE,
        {"symbol": "SYM7", "timeframe": "M1", "start": EARLIEST, "end": LATEST, "limit": 1001},
    ),
    (
        "page after a cursor",
        table.PAGE,
        {
            "symbol": "SYM7",
            "timeframe": "M1",
            "start": datetime(2020, 2, 15, tzinfo=UTC),
            "end": LATEST,
            "limit": 10001,
        },
    ),
    (
        "one day",
        table.PAGE,
        {
            "symbol": "SYM7",
            "timeframe": "M1",
            "start": datetime(2020, 1, 20, tzinfo=UTC),
            "end": datetime(2020, 1, 21, tzinfo=UTC),
            "limit": 10001,
        },
    ),
]


NOT_TABLES = {"Function Scan", "CTE Scan", "WorkTable Scan", "Subquery Scan"}


def scans(plan: dict[str, Any]) -> list[tuple[str, str | None]]:
    """Every table or index scan in a JSON plan, as (node type, index name or None)."""
    found = []
    if plan["Node Type"].endswith("Scan") and plan["Node Type"] not in NOT_TABLES:
        direction = " Backward" if plan.get("Scan Direction") == "Backward" else ""
        found.append((plan["Node Type"] + direction, plan.get("Index Name")))
    for child in plan.get("Plans", []):
        found += scans(child)
    return found


def positional(query: sql.Composable, params: dict[str, Any]) -> tuple[str, list[Any]]:
    """The query with $1, $2… for PREPARE, and its values in that order."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match[1] not in names:
            names.append(match[1])
        return f"${names.index(match[1]) + 1}"

    text = re.sub(r"%\((\w+)\)s", number, query.as_string(None))
    return text, [params[name] for name in names]


@pytest.mark.slow
def test_read_queries_use_the_unique_index_on_millions_of_rows(db):
    db.execute("ALTER TABLE market_data_candles SET UNLOGGED")  # no WAL: a faster fill
    db.execute(FILL)
    db.execute("VACUUM ANALYZE market_data_candles")  # as autovacuum leaves it: visible pages
    assert db.execute("SELECT count(*) FROM market_data_candles").fetchone() == (2_000_000,)
    for i, (label, query, params) in enumerate(PLAN_CASES):
        custom = db.execute(sql.SQL("EXPLAIN (FORMAT JSON) ") + query, params).fetchone()
        text, values = positional(query, params)
        db.execute("SET plan_cache_mode = force_generic_plan")
        db.execute(f"PREPARE q{i} AS {text}")
        marks = ", ".join(["%s"] * len(values))
        explain = f"EXPLAIN (FORMAT JSON) EXECUTE q{i} ({marks})"
        generic = ClientCursor(db).execute(explain, values).fetchone()  # EXECUTE takes literals
        db.execute("RESET plan_cache_mode")
        for kind, plan in (("custom", custom), ("generic", generic)):
            assert plan is not None
            found = scans(plan[0][0]["Plan"])
            print(f"{label} ({kind}):", "; ".join(f"{t} using {i}" for t, i in found))
            assert {i for _, i in found if i} == {"market_data_candles_key"}, (label, kind)
            assert all(i or t == "Bitmap Heap Scan" for t, i in found), (label, kind, found)
            if query is series.SPANS:  # one ordered scan, nothing sorted after it
                assert [t for t, _ in found] == ["Index Only Scan"], (kind, found)
                assert "Sort" not in json.dumps(plan), kind
