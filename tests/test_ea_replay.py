"""Replay mt5/CandleSync.mq5's HTTP conversation, byte for byte, against the real service.

The EA cannot run here, so `tests/candlesync.py` follows its logic step for step over a
simulated terminal and clock, and builds headers, URLs and bodies exactly as the EA does.
`test_the_ea_source_builds_what_is_replayed` keeps the two from drifting apart.
"""

from dataclasses import replace
from pathlib import Path
from typing import Any

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
from tests.helpers import rows

EA_SOURCE = Path(__file__).resolve().parent.parent / "mt5" / "CandleSync.mq5"


def hourly(first: str, count: int, start_volume: int = 0, step: int = 3600) -> list[Rates]:
    """`count` bars `step` seconds apart from server time `first`."""
    start = mql_time(first)
    return [
        Rates(start + step * i, 1.09 + i / 1e4, 1.0915 + i / 1e4, 1.0895 + i / 1e4,
              1.0905 + i / 1e4, start_volume + i)
        for i in range(count)
    ]  # fmt: skip


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
        (r.method, r.status, r.answer.get("received"), r.answer.get("records_added"),
         r.answer.get("duplicates"))
        for r in requests
    ]  # fmt: skip


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
    restarted.run()
    assert counts(restarted.requests) == [
        ("GET", 200, None, None, None),
        ("POST", 201, 3, 3, 0),
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
        ("POST", 201, 1, 1, 0),
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


def test_the_ea_source_builds_what_is_replayed():
    source = EA_SOURCE.read_text()
    mql = lambda text: text.replace("\\", "\\\\").replace('"', '\\"')  # noqa: E731
    for fragment in (
        '"X-API-KEY: " + InpApiKey + "\\r\\n"',
        '"Content-Type: application/json\\r\\n" + headers',
        "StringToCharArray(json, data, 0, WHOLE_ARRAY, CP_UTF8);",
        "ArrayResize(data, n - 1);",
        '"/api/v1/candles/latest?symbol=" + UrlEncode(s.symbol)',
        '"&timeframe=" + s.name + "&source_tz=" + UrlEncode(Zone())',
        '"?on_conflict=update"',
        '"server_time"',
        'StringFormat("%%%02X", b)',
        "s.sent -= 1;",
        "CopyRates(s.symbol, s.period, from, stop, bars)",
        "MathRound((double)(TimeTradeServer() - TimeGMT()) / 900.0)",
    ):
        assert fragment in source, fragment
    for piece in ('{"source_tz":"', '","candles":[', '{"symbol":"', '","timeframe":"',
                  '","timestamp":', ',"open":', ',"volume":', "]}"):  # fmt: skip
        assert mql(piece) in source, piece
    for field in ("open", "high", "low", "close"):
        assert f"DoubleToString(bars[i].{field}, digits)" in source
    assert "IntegerToString((long)bars[i].time)" in source
    assert "IntegerToString(bars[i].tick_volume)" in source
