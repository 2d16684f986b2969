"""Replay mt5/CandleSync.mq5's HTTP conversation, byte for byte, against the real service.

The EA cannot run here, so `tests/candlesync.py` follows its logic step for step over a
simulated terminal and clock, and builds headers, URLs and bodies exactly as the EA does.
`test_the_ea_source_builds_what_is_replayed` keeps the two from drifting apart.
"""

import dataclasses
import re
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
import redis
from flask import Flask

from candlesvc.history.clock import WallClock
from candlesvc.model.timezones import parse_zone
from candlesvc.service.app import create_app
from candlesvc.store.localdb import LocalCluster
from tests.candlesync import (
    SERVICE,
    CandleSync,
    Inputs,
    Rates,
    Request,
    Series,
    Terminal,
    mql_time,
)
from tests.conftest import API_KEY
from tests.helpers import ROOT, rows
from tests.redisserver import redis_server

pytestmark = pytest.mark.slow  # the EA's whole conversation, over many simulated days

EA_SOURCE = ROOT / "mt5" / "CandleSync.mq5"
EA_DOCS = ROOT / "docs" / "mt5.md"


def hourly(first: str, count: int, start_volume: int = 0, step: int = 3600) -> list[Rates]:
    """`count` bars `step` seconds apart from server time `first`."""
    start = mql_time(first)
    return [
        Rates(
            start + step * i,
            1.09 + i / 1e4,
            1.0915 + i / 1e4,
            1.0895 + i / 1e4,
            1.0905 + i / 1e4,
            start_volume + i,
        )
        for i in range(count)
    ]


def start_ea(client: Any, terminal: Terminal, **inputs: Any) -> CandleSync:
    """The EA attached with these inputs; its OnInit must succeed."""
    options = {k: inputs.pop(k) for k in ("nul", "latency_ms") if k in inputs}
    ea = CandleSync(client, terminal, Inputs(**inputs), **options)
    assert ea.on_init(), ea.printed
    return ea


def one_series(bars: list[Rates], symbol: str = "EURUSD", name: str = "H1") -> Terminal:
    """A terminal with one series."""
    return Terminal({(symbol, name): Series(bars)})


def stored_times(db: Any) -> list[str]:
    """The UTC times of every stored bar, in order."""
    return [row[2].strftime("%Y-%m-%d %H:%M") for row in rows(db)]


def counts(requests: list[Request]) -> list[tuple[Any, ...]]:
    """(method, status, received, added, duplicates) for each request."""
    return [
        (
            r.method,
            r.status,
            r.answer.get("received"),
            r.answer.get("records_added"),
            r.answer.get("duplicates"),
        )
        for r in requests
    ]


def latest(client: Any, symbol: str, name: str, zone: str = "NY+7") -> dict[str, Any]:
    """What GET /api/v1/candles/latest answers."""
    answer = client.get(
        "/api/v1/candles/latest",
        query_string={"symbol": symbol, "timeframe": name, "source_tz": zone},
        headers={"X-API-KEY": API_KEY},
    )
    body: dict[str, Any] = answer.get_json()
    return body


# Friday 14:00-23:00 server time (GMT+2), then Monday after the US DST switch (GMT+3).
HISTORY = hourly("2024.03.08 14:00", 10) + hourly("2024.03.11 00:00", 12, start_volume=100)


def test_start_backfill_new_bar_restart_sends_only_missing_bars(client, db):
    terminal = one_series(HISTORY[:15])  # 14 closed bars and a forming one
    series = terminal.series[("EURUSD", "H1")]
    ea = start_ea(client, terminal, batch_size=6)
    ea.run()
    assert counts(ea.requests) == [
        ("GET", 404, None, None, None),
        ("POST", 201, 6, 6, 0),
        ("POST", 201, 6, 6, 0),
        ("POST", 201, 2, 2, 0),
    ]
    assert ea.requests[0].url == (
        f"{SERVICE}/api/v1/candles/latest?symbol=EURUSD&timeframe=H1&source_tz=NY%2B7"
    )
    stored = latest(client, "EURUSD", "H1")
    assert stored["server_time"] == HISTORY[13].time
    assert stored["timestamp"] == "2024-03-11T00:00:00Z"  # Monday 03:00 at GMT+3

    series.bars.append(HISTORY[15])  # a new bar opens: bar 14 has closed
    ea.run()
    assert counts(ea.requests[-1:]) == [("POST", 201, 1, 1, 0)]

    series.bars += HISTORY[16:19]  # three bars close while the EA is stopped
    restarted = start_ea(client, terminal, batch_size=6)
    restarted.run()  # the newest stored bar goes again, in update mode: it may be partial
    assert counts(restarted.requests) == [
        ("GET", 200, None, None, None),
        ("POST", 201, 4, 3, 1),
    ]
    times = stored_times(db)
    assert len(times) == 18
    assert times[9:11] == ["2024-03-08 21:00", "2024-03-10 21:00"]  # GMT+2 / GMT+3 sides
    assert times[0] == "2024-03-08 12:00"


def test_bodies_are_exactly_what_the_ea_builds(client):
    ea = start_ea(client, one_series(HISTORY[:3]))
    ea.run()
    assert HISTORY[0].time == 1_709_906_400  # 2024.03.08 14:00 server time, as MQL5 datetime
    assert [r.body for r in ea.requests] == [
        b"",
        b'{"source_tz":"NY+7","candles":['
        b'{"symbol":"EURUSD","timeframe":"H1","timestamp":1709906400,'
        b'"open":1.09000,"high":1.09150,"low":1.08950,"close":1.09050,"volume":0},'
        b'{"symbol":"EURUSD","timeframe":"H1","timestamp":1709910000,'
        b'"open":1.09010,"high":1.09160,"low":1.08960,"close":1.09060,"volume":1}]}',
    ]


def test_body_with_the_terminating_nul_is_stored_the_same(client, db):
    ea = start_ea(client, one_series(HISTORY[:5]), nul=True)
    ea.run()
    assert counts(ea.requests) == [("GET", 404, None, None, None), ("POST", 201, 4, 4, 0)]
    assert len(rows(db)) == 4


def test_a_batch_sent_again_after_a_lost_answer_is_only_duplicates(client, db):
    ea = start_ea(client, one_series(HISTORY[:4]))
    ea.run()
    ea.streams[0].sent = HISTORY[0].time  # the answer to the last POST was lost
    ea.run()
    assert counts(ea.requests)[-1] == ("POST", 201, 2, 0, 2)
    assert len(rows(db)) == 3


def test_symbols_and_zones_are_url_encoded_like_the_ea_does(client, db):
    terminal = one_series(HISTORY[:3], symbol="US Oil#+")
    terminal.server_offset = 3 * 3600 + 7
    ea = start_ea(client, terminal, symbols="US Oil#+", server_time_zone="auto")
    ea.run()
    assert ea.zone() == "+03:00"
    assert "symbol=US%20Oil%23%2B&timeframe=H1&source_tz=%2B03%3A00" in ea.requests[0].url
    terminal.series[("US Oil#+", "H1")].bars.append(HISTORY[3])
    restarted = start_ea(client, terminal, symbols="US Oil#+", server_time_zone="+03:00")
    restarted.run()
    assert counts(restarted.requests) == [
        ("GET", 200, None, None, None),
        ("POST", 201, 2, 1, 1),
    ]
    assert [r[0] for r in rows(db)] == ["US Oil#+"] * 3
    assert stored_times(db)[0] == "2024-03-08 11:00"  # a fixed +03:00 clock


def test_update_mode_corrects_the_forming_bar_until_it_closes(client, db):
    terminal = one_series(HISTORY[:5])
    series = terminal.series[("EURUSD", "H1")]
    ea = start_ea(client, terminal, send_forming_bar=True)
    ea.run()
    assert counts(ea.requests) == [
        ("GET", 404, None, None, None),
        ("POST", 201, 4, 4, 0),  # closed bars
        ("POST", 201, 1, 1, 0),  # the forming bar, partial
    ]
    ea.run()
    assert len(ea.requests) == 3  # unchanged forming bar: nothing sent
    grown = replace(HISTORY[4], high=1.0950, close=1.0948, tick_volume=77)
    series.bars[-1] = grown
    ea.run()
    assert ea.requests[-1].answer["records_updated"] == 1
    final = replace(grown, close=1.0921, tick_volume=90)
    series.bars[-1:] = [final, HISTORY[5]]  # bar 4 closes with its final values
    ea.run()
    assert [r.answer.get("records_updated") for r in ea.requests[-2:]] == [1, 0]
    stored = rows(db)[4]
    assert (str(stored[6]), stored[7]) == ("1.09210", 90)

    restarted = start_ea(client, terminal, send_forming_bar=True)
    restarted.run()
    # latest is the stored forming bar: it is sent again (unchanged: a duplicate)
    assert counts(restarted.requests) == [
        ("GET", 200, None, None, None),
        ("POST", 201, 1, 0, 1),
    ]
    assert "on_conflict=update" in restarted.requests[1].url


# --- one refused batch never stops the others -------------------------------------------
# A 24/7 symbol with a bar at 2024.03.10 09:00, a time that NY+7 skips: the service refuses
# it for good (as it would every bar of a broker whose clock is not the zone the user chose).
BTC = hourly("2024.03.10 05:00", 12)


def symbol_rows(db: Any, symbol: str) -> list[tuple[Any, ...]]:
    """The stored rows of one symbol."""
    return [row for row in rows(db) if row[0] == symbol]


def test_a_refused_bar_is_isolated_and_parked_while_the_other_streams_flow(client, db):
    terminal = Terminal({("BTCUSD", "H1"): Series(BTC), ("EURUSD", "H1"): Series(HISTORY[:8])})
    ea = start_ea(client, terminal, symbols="BTCUSD,EURUSD", batch_size=8)
    ea.run(60)
    assert len(symbol_rows(db, "EURUSD")) == 7
    btc = [row[2].strftime("%H:%M") for row in symbol_rows(db, "BTCUSD")]
    assert btc == [
        "03:00",
        "04:00",
        "05:00",
        "06:00",
        "07:00",
        "08:00",
        "09:00",
        "10:00",
        "11:00",
        "12:00",
    ]  # UTC: 05:00-08:00 server time in EST, 10:00-15:00 in EDT
    btc_posts = [r.status for r in ea.requests if r.method == "POST" and b"BTCUSD" in r.body]
    assert btc_posts == [422, 201, 422, 422, 422, 201]  # 8 bars, 4, 4, 2, the bad one, the rest
    problem = "time does not exist in NY+7"
    assert sum(problem in line for line in ea.printed) == 2  # the first refusal, then the bar
    assert any("2024.03.10 09:00" in line and "skipped" in line for line in ea.printed)
    sent = len(ea.requests)
    ea.run(600)
    assert len(ea.requests) == sent  # nothing is sent again


def test_a_stream_whose_latest_is_refused_is_stopped_and_logged_once(client, db):
    terminal = Terminal({(s, "H1"): Series(HISTORY[:4]) for s in ("EURUSD", "GBPUSD")})
    ea = start_ea(client, terminal, symbols="EURUSD,GBPUSD", server_time_zone="Mars/Olympus")
    ea.run(600)
    assert [(r.method, r.status) for r in ea.requests] == [("GET", 422), ("GET", 422)]
    assert sum("is stopped" in line and "Mars/Olympus" in line for line in ea.printed) == 2


@pytest.fixture
def small_batch_app(app_env: dict[str, str]) -> Iterator[Flask]:
    """The service with MAX_BATCH=5."""
    app = create_app(app_env | {"MAX_BATCH": "5"})
    yield app
    app.extensions["candlesvc.pool"].close()


def test_a_batch_over_max_batch_is_halved_until_the_service_takes_it(small_batch_app, db):
    ea = start_ea(small_batch_app.test_client(), one_series(HISTORY[:22]), batch_size=12)
    ea.run(60)
    assert len(rows(db)) == 21
    posts = [(r.status, r.answer.get("received")) for r in ea.requests if r.method == "POST"]
    assert posts == [(413, None), (413, None)] + [(201, 3)] * 7  # 12, 6, then 3 at a time
    assert sum("the limit is 5" in line for line in ea.printed) == 1


@pytest.fixture
def limited_app(app_env: dict[str, str]) -> Iterator[tuple[Flask, str]]:
    """The service with RATE_LIMIT=3/minute, counted in a real Redis; and that Redis's URL."""
    with redis_server() as url:
        app = create_app(app_env | {"RATE_LIMIT": "3/minute", "RATE_LIMIT_STORAGE_URI": url})
        yield app, url
        app.extensions["candlesvc.pool"].close()


def test_429_pauses_every_stream_for_retry_after(limited_app, db):
    limited_app, limit_store = limited_app
    terminal = Terminal({(s, "H1"): Series(HISTORY[:8]) for s in ("EURUSD", "GBPUSD")})
    ea = start_ea(limited_app.test_client(), terminal, symbols="EURUSD,GBPUSD", batch_size=3)
    ea.run(1)
    limited = [r for r in ea.requests if r.status == 429]
    assert len(limited) == 1
    wait = int(limited[0].headers["Retry-After"])
    assert wait > 2
    asked = len(ea.requests)
    ea.run(wait - 1)
    assert len(ea.requests) == asked  # no stream asks anything during Retry-After
    for _ in range(10):  # reads count too: each window lets three more requests through
        with redis.Redis.from_url(limit_store) as store:
            store.flushdb()  # the window has passed
        ea.run(wait + 1)
        if len(rows(db)) == 14:
            break
    assert len(rows(db)) == 14
    assert {r.status for r in ea.requests[asked:]} <= {201, 404, 429}  # 404: nothing stored yet


@pytest.fixture
def outage_app(own_cluster: tuple[LocalCluster, str]) -> Iterator[Flask]:
    """The service on a database this test may stop, with Retry-After: 7 on a 503."""
    env = {
        "DATABASE_URL": own_cluster[1],
        "MT5_API_KEY": API_KEY,
        "POOL_TIMEOUT_MS": "1000",
        "RETRY_AFTER": "7",
    }
    app = create_app(env)
    yield app
    app.extensions["candlesvc.pool"].close()


def wait_until_ready(client: Any) -> None:
    """Wait until the service's pool has reconnected to the restarted database."""
    deadline = time.monotonic() + 30
    while client.get("/health/ready").status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.2)


def test_503_pauses_until_retry_after_then_sends_what_closed_meanwhile(own_cluster, outage_app):
    cluster, url = own_cluster
    terminal = one_series(HISTORY[:4])
    ea = start_ea(outage_app.test_client(), terminal)
    ea.run()
    cluster.stop()
    terminal.series[("EURUSD", "H1")].bars.append(HISTORY[4])
    ea.run()
    assert [r.status for r in ea.requests] == [404, 201, 503]
    ea.run(6)
    assert len(ea.requests) == 3  # Retry-After: 7
    cluster.start()
    wait_until_ready(ea.client)
    ea.run(2)
    assert [r.status for r in ea.requests[3:]] == [201]
    with psycopg.connect(url) as conn:
        assert len(rows(conn)) == 4


def test_streams_take_turns_at_going_first(client, db):
    terminal = Terminal({("EURUSD", "H1"): Series(HISTORY), ("GBPUSD", "H1"): Series(HISTORY)})
    ea = start_ea(client, terminal, symbols="EURUSD,GBPUSD", batch_size=2, latency_ms=2000)
    ea.on_timer()  # each request takes 2 s of the 5 s budget: two requests per timer event
    ea.on_timer()
    assert [r.url.split("symbol=")[-1][:6] for r in ea.requests if r.method == "GET"] == [
        "EURUSD",
        "GBPUSD",
    ]
    assert len(symbol_rows(db, "GBPUSD")) == 2


# --- history that is not in sync is not sent ----------------------------------------------
def test_history_still_loading_after_a_reconnect_waits_for_sync(client, db):
    terminal = one_series(HISTORY[:6])
    series = terminal.series[("EURUSD", "H1")]
    ea = start_ea(client, terminal)
    ea.run()
    assert len(rows(db)) == 5
    series.bars = HISTORY[:5] + HISTORY[10:16]  # reconnected: 5-9 are still downloading
    series.synchronized = False
    ea.run(5)
    terminal.connected, series.synchronized = False, True  # and once more, disconnected
    ea.run(5)
    assert len(rows(db)) == 5  # nothing with a hole in it was sent
    terminal.connected = True
    series.bars = HISTORY[:16]
    ea.run()
    assert len(rows(db)) == 15
    assert sum("waiting" in line for line in ea.printed) == 1


def test_a_copy_short_of_the_bars_the_terminal_counts_is_not_sent(client, db):
    terminal = one_series(HISTORY[:12])
    series = terminal.series[("EURUSD", "H1")]
    series.unbuilt = {HISTORY[2].time, HISTORY[3].time}  # counted, not yet copyable
    ea = start_ea(client, terminal)
    ea.run(3)
    assert rows(db) == []
    series.unbuilt = set()
    ea.run()
    assert len(rows(db)) == 11


# --- copy only the batch that is sent -----------------------------------------------------
def test_a_long_backfill_copies_each_bar_once(client, db):
    terminal = one_series(hourly("2024.01.01 00:00", 201))  # a 24/7 symbol, 200 closed bars
    ea = start_ea(client, terminal, batch_size=10)
    ea.run()
    assert len(rows(db)) == 200
    assert terminal.series[("EURUSD", "H1")].copied == 200


# --- inputs are checked -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("inputs", "named"),
    [
        ({"service_url": SERVICE + "/"}, "InpServiceUrl"),
        ({"service_url": "127.0.0.1:8000"}, "InpServiceUrl"),
        ({"api_key": ""}, "InpApiKey"),
        ({"batch_size": 0}, "InpBatchSize"),
        ({"backfill_bars": 0}, "InpBackfillBars"),
        ({"timeout_ms": 0}, "InpTimeoutMs"),
        ({"timeout_ms": 999}, "InpTimeoutMs"),
        ({"max_backoff_sec": 0}, "InpMaxBackoffSec"),
        ({"timer_seconds": 0}, "InpTimerSeconds"),
        ({"server_time_zone": ""}, "InpServerTimeZone"),
        ({"timeframes": "M1,H7"}, "InpTimeframes"),
    ],
)
def test_bad_inputs_are_refused_in_on_init_with_a_clear_message(client, inputs, named):
    ea = CandleSync(client, one_series(HISTORY[:3]), Inputs(**inputs))
    assert not ea.on_init()
    assert named in ea.printed[-1]


def test_a_failed_timer_fails_on_init(client):
    terminal = one_series(HISTORY[:3])
    terminal.timer_ok = False
    ea = CandleSync(client, terminal, Inputs())
    assert not ea.on_init()
    assert "EventSetTimer" in ea.printed[-1]


def test_a_trailing_slash_would_read_as_nothing_stored(client):
    url = f"{SERVICE}//api/v1/candles/latest?symbol=EURUSD&timeframe=H1"
    answer = client.get(url, headers={"X-API-KEY": API_KEY})
    assert answer.status_code == 404  # the same status as "nothing stored": refused in OnInit
    assert "not found" in answer.get_json()["detail"]


# --- auto time zone west of UTC -----------------------------------------------------------
def test_auto_zone_west_of_utc_is_a_negative_offset(client, db):
    terminal = one_series(HISTORY[:3])
    terminal.server_offset = -5 * 3600 + 2  # TimeTradeServer() is 5 h behind TimeGMT()
    ea = start_ea(client, terminal, server_time_zone="auto")
    ea.run()
    assert ea.zone() == "-05:00"
    assert "&source_tz=-05%3A00" in ea.requests[0].url
    assert stored_times(db) == ["2024-03-08 19:00", "2024-03-08 20:00"]


# --- turning the forming bar off ----------------------------------------------------------
def test_a_partial_bar_left_by_update_mode_is_corrected_on_the_next_start(client, db):
    terminal = one_series(HISTORY[:5])
    series = terminal.series[("EURUSD", "H1")]
    start_ea(client, terminal, send_forming_bar=True).run()  # bar 4 stored while forming
    final = replace(HISTORY[4], high=1.0990, close=1.0980, tick_volume=90)
    series.bars[-1:] = [final, HISTORY[5]]  # it closes while the EA is stopped
    restarted = start_ea(client, terminal)  # and the EA starts again without the forming bar
    restarted.run()
    assert "on_conflict=update" in restarted.requests[1].url
    assert restarted.requests[1].answer["records_updated"] == 1
    stored = rows(db)[4]
    assert (str(stored[4]), str(stored[6]), stored[7]) == ("1.09900", "1.09800", 90)
    later = start_ea(client, terminal)
    later.run()  # every start sends the newest stored bar once more; unchanged, a duplicate
    assert counts(later.requests) == [("GET", 200, None, None, None), ("POST", 201, 1, 0, 1)]


# --- broker symbol names -----------------------------------------------------------------
MAPPED = {"symbols": "EURUSDm,GOLDm", "symbol_map": "GOLDm=XAUUSD", "strip_suffix": "m"}


def test_broker_names_are_stored_under_one_name_per_instrument(client, db):
    terminal = Terminal({(s, "H1"): Series(HISTORY[:4]) for s in ("EURUSDm", "GOLDm")})
    ea = start_ea(client, terminal, **MAPPED)
    ea.run()
    asked = sorted(
        r.url.split("symbol=")[1].split("&")[0] for r in ea.requests if r.method == "GET"
    )
    assert asked == ["EURUSD", "XAUUSD"]
    assert [(symbol, len(symbol_rows(db, symbol))) for symbol in ("EURUSD", "XAUUSD")] == [
        ("EURUSD", 3),
        ("XAUUSD", 3),
    ]
    assert {row[0] for row in rows(db)} == {"EURUSD", "XAUUSD"}
    assert "CandleSync: GOLDm is stored as XAUUSD" in ea.printed
    terminal.series[("EURUSDm", "H1")].bars.append(HISTORY[4])
    restarted = start_ea(client, terminal, **MAPPED)
    restarted.run()  # latest is asked under the stored names: only the new bar is added
    assert sum(r.answer.get("records_added", 0) for r in restarted.requests) == 1
    assert len(symbol_rows(db, "EURUSD")) == 4


def test_a_stored_name_the_service_refuses_stops_only_its_stream(client, db):
    terminal = Terminal({(s, "H1"): Series(HISTORY[:4]) for s in ("EURUSD", "GBPUSD")})
    too_long = "GBPUSD-" + "x" * 26  # 33 characters: the service takes at most 32
    ea = start_ea(client, terminal, symbols="GBPUSD,EURUSD", symbol_map=f"GBPUSD={too_long}")
    ea.run(60)
    assert [(r.method, r.status) for r in ea.requests] == [
        ("GET", 422),
        ("GET", 404),
        ("POST", 201),
    ]
    assert {row[0] for row in rows(db)} == {"EURUSD"}


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"symbol_map": "EURUSD.pro=EURUSD"}, "EURUSDm and EURUSD.pro would both be stored as"),
        ({"symbol_map": "GOLDm"}, "InpSymbolMap"),
        ({"symbol_map": "GOLDm="}, "InpSymbolMap"),
    ],
)
def test_mappings_that_would_mix_or_break_names_are_refused(client, inputs, message):
    terminal = Terminal({(s, "H1"): Series(HISTORY[:4]) for s in ("EURUSDm", "EURUSD.pro")})
    params = {"symbols": "EURUSDm,EURUSD.pro", "strip_suffix": "m"} | inputs
    ea = CandleSync(client, terminal, Inputs(**params))
    assert not ea.on_init()
    assert message in ea.printed[-1]


def test_two_brokers_and_a_standby_terminal_share_one_table_without_mixing(client, db):
    broker_a = Terminal({("EURUSDm", "H1"): Series(HISTORY[:6])})  # NY+7 clock
    standby_a = Terminal({("EURUSDm", "H1"): Series(HISTORY[:6])})  # same server, 2nd terminal
    other = [replace(bar, close=bar.close + 0.0001) for bar in hourly("2024.03.08 12:00", 6)]
    broker_b = Terminal({("EURUSD.pro", "H1"): Series(other)})  # a UTC clock, its own prices
    start_ea(client, broker_a, symbols="EURUSDm", strip_suffix="m").run()
    start_ea(client, broker_b, symbols="EURUSD.pro", server_time_zone="UTC").run()
    standby = start_ea(client, standby_a, symbols="EURUSDm", strip_suffix="m")
    standby.run()
    assert len(symbol_rows(db, "EURUSD")) == 5
    assert len(symbol_rows(db, "EURUSD.pro")) == 5
    assert str(symbol_rows(db, "EURUSD.pro")[0][6]) == "1.09060"
    assert sum(r.answer.get("records_added", 0) for r in standby.requests) == 0


# --- the DST change day -------------------------------------------------------------------
# A 24/7 symbol on M15 on 2024-11-03: NY+7's wall hour 08:00-08:59 happens twice, but an MT5
# series holds one bar per wall time, so the EA sends each of 08:00 ... 08:45 once.
DST_DAY = hourly("2024.11.03 06:00", 20, step=900)


def importer_instants(bars: list[Rates]) -> list[str]:
    """Where the importer places these wall times, read in order, in NY+7."""
    clock = WallClock(parse_zone("NY+7"))
    walls = [datetime(1970, 1, 1) + timedelta(seconds=bar.time) for bar in bars]
    return [clock.resolve(wall).strftime("%Y-%m-%d %H:%M") for wall in walls]


def test_the_dst_change_day_stores_every_bar_once_where_the_importer_does(client, db):
    terminal = Terminal({("BTCUSD", "M15"): Series(DST_DAY[:11])})  # 08:30 is forming
    series = terminal.series[("BTCUSD", "M15")]
    inputs = {"symbols": "BTCUSD", "timeframes": "M15", "batch_size": 7}
    ea = start_ea(client, terminal, **inputs)
    ea.run()  # backfill in batches of 7: 06:00-07:30, then 07:45-08:15
    series.bars.append(DST_DAY[11])
    ea.run()  # 08:30 closes and is sent alone, inside the repeated hour
    live = start_ea(client, terminal, **inputs, send_forming_bar=True)  # restarted
    live.run()  # 08:30 again (the newest stored bar, in update mode), 08:45 while forming
    for bar in DST_DAY[12:20]:
        series.bars.append(bar)
        live.run()  # each bar again once closed, and the next one while forming
    assert all(r.status in (200, 201, 404) for r in ea.requests + live.requests)
    assert stored_times(db) == importer_instants(DST_DAY)  # 10:45 is stored while forming
    assert stored_times(db)[8:13] == [
        "2024-11-03 05:00",
        "2024-11-03 05:15",
        "2024-11-03 05:30",
        "2024-11-03 05:45",
        "2024-11-03 07:00",
    ]


def test_the_ea_source_builds_what_is_replayed():
    source = EA_SOURCE.read_text()
    mql = lambda text: text.replace("\\", "\\\\").replace('"', '\\"')  # noqa: E731
    for fragment in (
        '"X-API-KEY: " + InpApiKey + "\\r\\n"',
        '"Content-Type: application/json\\r\\n" + sent',
        "StringToCharArray(json, data, 0, WHOLE_ARRAY, CP_UTF8);",
        "ArrayResize(data, n - 1);",
        '"/api/v1/candles/latest?symbol=" + UrlEncode(s.stored)',
        "JsonEscape(s.stored)",
        '"&timeframe=" + s.name + "&source_tz=" + UrlEncode(Zone())',
        '"?on_conflict=update"',
        '"server_time"',
        'StringFormat("%%%02X", b)',
        "s.sent -= 1;",
        "s.refresh = true;",
        "bool update = InpSendFormingBar || s.refresh;",
        "if(!TerminalInfoInteger(TERMINAL_CONNECTED)",
        "|| !SeriesInfoInteger(s.symbol, s.period, SERIES_SYNCHRONIZED))",
        "int pending = Bars(s.symbol, s.period, from, forming - 1);",
        "datetime stop = iTime(s.symbol, s.period, pending - count + 1);",
        "int copied = CopyRates(s.symbol, s.period, from, stop, bars);",
        "if(copied != count || bars[0].time < from || bars[copied - 1].time != stop)",
        "long offset = (long)TimeTradeServer() - (long)TimeGMT();",
        "int quarters = (int)MathRound(offset / 900.0);",
    ):
        assert fragment in source, fragment
    for piece in (
        '{"source_tz":"',
        '","candles":[',
        '{"symbol":"',
        '","timeframe":"',
        '","timestamp":',
        ',"open":',
        ',"volume":',
        "]}",
    ):
        assert mql(piece) in source, piece
    for field in ("open", "high", "low", "close"):
        assert f"DoubleToString(bars[i].{field}, digits)" in source
    assert "IntegerToString((long)bars[i].time)" in source
    assert "IntegerToString(bars[i].tick_volume)" in source


def test_the_ea_source_checks_what_the_twin_checks():
    source = EA_SOURCE.read_text()
    for fragment in (
        "g_turn = (g_turn + 1) % n;",
        "return(!s.stopped && now >= s.retry_at && now >= g_paused);",
        "int wait = (status == 429 || status == 503) ? RetryAfter(headers) : 0;",
        'int at = StringFind("\\n" + headers, "\\nretry-after:");',
        "return(at < 0 ? 0 : (int)MathMax(0, DigitsAt(headers, at + 12)));",
        "if(status == 413 || status == 422)",
        "bool first = (status == 413) ? s.limit == InpBatchSize : s.batch == s.limit;",
        "s.batch = MathMin(s.limit, count / 2);",
        "else if(status == 422)\n      return(Stop(s, answer));",
        "if(MapKey(pairs[i]) == symbol)\n         return(MapValue(pairs[i]));",
        'if(InpStripSuffix != "" && cut > 0 && StringSubstr(symbol, cut) == InpStripSuffix)',
        "if(g_streams[i].stored == stored && g_streams[i].name == name)",
        '" would both be stored as "',
        "' is not broker=stored, e.g. GOLD=XAUUSD\");",
        'if(StringSubstr(url, StringLen(url) - 1) == "/")',
        "if(InpTimeoutMs < 1000 || InpTimeoutMs > 60000)",
        "if(InpBatchSize < 1)",
        "if(!EventSetTimer(InpTimerSeconds))",
        "StringGetCharacter(text, i) <= ' '",
    ):
        assert fragment in source, fragment
    ea = CandleSync(None, Terminal(), Inputs())
    for inputs in (
        {"service_url": "x"},
        {"service_url": "http://h/"},
        {"api_key": ""},
        {"server_time_zone": ""},
        {"batch_size": 0},
        {"backfill_bars": 0},
        {"timeout_ms": 0},
        {"max_backoff_sec": 0},
        {"timer_seconds": 0},
    ):
        ea.inputs = Inputs(**inputs)
        assert f'return("{ea.input_problem()}");' in source, inputs


def test_the_docs_list_every_input_with_its_default():
    inputs = re.findall(r"^input \w+ +(Inp\w+) += ([^;]+);", EA_SOURCE.read_text(), re.M)
    rows = re.findall(r"^\| `(Inp\w+)` \| ([^|]+) \|", EA_DOCS.read_text(), re.M)
    assert [name for name, _ in rows] == [name for name, _ in inputs]
    for (name, default), (_, documented) in zip(inputs, rows, strict=True):
        value = default.strip().strip('"')
        if value:
            assert documented.strip() == f"`{value}`", name
        else:
            assert "`" not in documented, name
    fields = [f.name for f in dataclasses.fields(Inputs)]
    assert len(fields) == len(inputs)  # the twin has every input too
