"""Replay mt5/CandleSync.mq5's HTTP conversation, byte for byte, against the real service.

The EA cannot run here, so `Ea` below follows its logic step for step (Step, AskLatest,
PendingBars, SendBars, SendForming) over a simulated terminal history, and builds headers,
URLs and bodies exactly as the EA's Http, UrlEncode and BatchJson do.
`test_the_ea_source_builds_what_is_replayed` keeps the two from drifting apart.
"""

import json
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tests.conftest import API_KEY
from tests.helpers import rows

EA_SOURCE = Path(__file__).resolve().parent.parent / "mt5" / "CandleSync.mq5"
SERVICE = "http://127.0.0.1:8000"
TERMINAL_HEADERS = {  # what the terminal adds by itself
    "Accept": "*/*",
    "Accept-Encoding": "gzip, deflate",
    "User-Agent": "MetaTrader 5 Terminal/5.4410 (Windows NT 10.0; x64)",
}
DIGITS = 5
_EPOCH = datetime(1970, 1, 1)


@dataclass(frozen=True)
class Rates:
    """The MqlRates fields the EA sends; `time` is server wall-clock time as MQL5 datetime."""

    time: int
    open: float
    high: float
    low: float
    close: float
    tick_volume: int


def mql_time(wall: str) -> int:
    """MQL5 datetime of a server wall-clock time, e.g. '2024.03.08 14:00'."""
    return int((datetime.strptime(wall, "%Y.%m.%d %H:%M") - _EPOCH).total_seconds())


def hourly(first: str, count: int, start_volume: int = 0) -> list[Rates]:
    """`count` H1 bars from server time `first`."""
    start = mql_time(first)
    return [
        Rates(start + 3600 * i, 1.09 + i / 1e4, 1.0915 + i / 1e4, 1.0895 + i / 1e4,
              1.0905 + i / 1e4, start_volume + i)
        for i in range(count)
    ]  # fmt: skip


class Terminal:
    """The history an EA sees for one symbol and timeframe; the last bar is forming."""

    def __init__(self, bars: list[Rates]) -> None:
        self.bars = list(bars)

    def itime(self, shift: int) -> int:
        """iTime(symbol, period, shift)."""
        return self.bars[-1 - shift].time if shift < len(self.bars) else 0

    def copy_rates(self, start: int, stop: int) -> list[Rates]:
        """CopyRates(symbol, period, start_time, stop_time, rates): oldest first."""
        return [bar for bar in self.bars if start <= bar.time <= stop]


# --- the EA's text builders ---------------------------------------------------------------
def url_encode(text: str) -> str:
    """UrlEncode: every UTF-8 byte but A-Z a-z 0-9 - _ . ~ as %XX."""
    return quote(text, safe="")


def auto_zone(offset_seconds: int) -> str:
    """Zone() for InpServerTimeZone=auto, from TimeTradeServer() - TimeGMT()."""
    quarters = round(offset_seconds / 900)
    minutes = abs(quarters) * 15
    return f"{'-' if quarters < 0 else '+'}{minutes // 60:02d}:{minutes % 60:02d}"


def batch_json(symbol: str, timeframe: str, zone: str, bars: list[Rates]) -> str:
    """BatchJson with DoubleToString(price, digits) and IntegerToString(time / volume)."""
    esc = lambda text: text.replace("\\", "\\\\").replace('"', '\\"')  # noqa: E731
    candles = ",".join(
        f'{{"symbol":"{esc(symbol)}","timeframe":"{timeframe}","timestamp":{b.time}'
        f',"open":{b.open:.{DIGITS}f},"high":{b.high:.{DIGITS}f},"low":{b.low:.{DIGITS}f}'
        f',"close":{b.close:.{DIGITS}f},"volume":{b.tick_volume}}}'
        for b in bars
    )
    return f'{{"source_tz":"{esc(zone)}","candles":[{candles}]}}'


def header_lines(body: str) -> str:
    """The headers string Http() passes to WebRequest."""
    headers = f"X-API-KEY: {API_KEY}\r\n"
    return f"Content-Type: application/json\r\n{headers}" if body else headers


@dataclass
class Ea:
    """CandleSync.mq5 for one stream, talking to the Flask test client."""

    client: Any
    terminal: Terminal
    symbol: str = "EURUSD"
    name: str = "H1"
    zone: str = "NY+7"
    send_forming_bar: bool = False  # InpSendFormingBar
    batch_size: int = 1000
    backfill_bars: int = 10000
    nul: bool = False  # send the body with the terminating NUL, as careless EAs do
    resumed: bool = False
    sent: int = 0
    forming: Rates | None = None

    def __post_init__(self) -> None:
        self.log: list[tuple[str, str, int, dict[str, Any]]] = []  # method, url, status, answer
        self.bodies: list[bytes] = []

    def run(self) -> None:
        """OnTimer with a budget large enough to finish: Step until idle."""
        while self.step() > 0:
            pass

    def step(self) -> int:
        """Step: 1 done, 0 idle, -1 failed."""
        if not self.resumed:
            return self.ask_latest()
        bars = self.pending_bars()
        if bars:
            return self.send_bars(bars)
        return self.send_forming() if self.send_forming_bar else 0

    def ask_latest(self) -> int:
        url = (f"{SERVICE}/api/v1/candles/latest?symbol={url_encode(self.symbol)}"
               f"&timeframe={self.name}&source_tz={url_encode(self.zone)}")  # fmt: skip
        status, answer = self.http("GET", url, "")
        if status == 404:
            self.sent = 0
        elif status == 200 and answer["server_time"] > 0:
            self.sent = answer["server_time"] - (1 if self.send_forming_bar else 0)
        else:
            return -1
        self.resumed, self.forming = True, None
        return 1

    def pending_bars(self) -> list[Rates]:
        term = self.terminal
        forming, available = term.itime(0), len(term.bars)
        start = self.sent + 1
        if self.sent == 0:
            start = term.itime(max(1, min(self.backfill_bars, available - 1)))
        start = max(start, term.itime(available - 1))
        return term.copy_rates(start, forming - 1)[: self.batch_size] if start < forming else []

    def send_bars(self, bars: list[Rates]) -> int:
        status, _ = self.http("POST", self.post_url(), self.body(bars))
        if status != 201:
            return -1
        self.sent = bars[-1].time
        return 1

    def send_forming(self) -> int:
        bar = self.terminal.bars[-1]
        if bar == self.forming:
            return 0
        status, _ = self.http("POST", self.post_url(), self.body([bar]))
        if status != 201:
            return -1
        self.forming = bar
        return 0

    def post_url(self) -> str:
        return f"{SERVICE}/api/v1/candles" + (
            "?on_conflict=update" if self.send_forming_bar else ""
        )

    def body(self, bars: list[Rates]) -> str:
        return batch_json(self.symbol, self.name, self.zone, bars)

    def http(self, method: str, url: str, body: str) -> tuple[int, dict[str, Any]]:
        """WebRequest(method, url, headers, timeout, data, result, result_headers)."""
        data = body.encode() + (b"\0" if self.nul and body else b"")
        lines = [line.split(": ", 1) for line in header_lines(body).split("\r\n") if line]
        response = self.client.open(
            url, method=method, data=data, headers=TERMINAL_HEADERS | dict(lines)
        )
        answer = json.loads(response.get_data() or b"{}")
        self.log.append((method, url, response.status_code, answer))
        self.bodies.append(data)
        return response.status_code, answer


def stored_times(db: Any) -> list[str]:
    """The UTC times of every stored bar, in order."""
    return [row[2].strftime("%Y-%m-%d %H:%M") for row in rows(db)]


def counts(log: list[tuple[str, str, int, dict[str, Any]]]) -> list[tuple[Any, ...]]:
    """(method, status, received, added, duplicates) for each request."""
    return [
        (method, status, answer.get("received"), answer.get("records_added"),
         answer.get("duplicates"))
        for method, _, status, answer in log
    ]  # fmt: skip


# Friday 14:00-23:00 server time (GMT+2), then Monday after the US DST switch (GMT+3).
HISTORY = hourly("2024.03.08 14:00", 10) + hourly("2024.03.11 00:00", 12, start_volume=100)


def test_start_backfill_new_bar_restart_sends_only_missing_bars(client, db):
    terminal = Terminal(HISTORY[:15])  # 14 closed bars and a forming one
    ea = Ea(client, terminal, batch_size=6)
    ea.run()
    assert counts(ea.log) == [
        ("GET", 404, None, None, None),
        ("POST", 201, 6, 6, 0),
        ("POST", 201, 6, 6, 0),
        ("POST", 201, 2, 2, 0),
    ]
    assert ea.log[0][1] == (
        f"{SERVICE}/api/v1/candles/latest?symbol=EURUSD&timeframe=H1&source_tz=NY%2B7"
    )
    ask = Ea(client, terminal)
    ask.ask_latest()
    assert ask.log[0][3]["server_time"] == HISTORY[13].time
    assert ask.log[0][3]["timestamp"] == "2024-03-11T00:00:00Z"  # Monday 03:00 at GMT+3

    terminal.bars.append(HISTORY[15])  # a new bar opens: bar 14 has closed
    ea.run()
    assert counts(ea.log[-1:]) == [("POST", 201, 1, 1, 0)]

    terminal.bars += HISTORY[16:19]  # three bars close while the EA is stopped
    restarted = Ea(client, terminal, batch_size=6)
    restarted.run()
    assert counts(restarted.log) == [("GET", 200, None, None, None), ("POST", 201, 3, 3, 0)]
    times = stored_times(db)
    assert len(times) == 18
    assert times[9:11] == ["2024-03-08 21:00", "2024-03-10 21:00"]  # GMT+2 / GMT+3 sides
    assert times[0] == "2024-03-08 12:00"


def test_bodies_are_exactly_what_the_ea_builds(client):
    ea = Ea(client, Terminal(HISTORY[:3]))
    ea.run()
    assert HISTORY[0].time == 1_709_906_400  # 2024.03.08 14:00 server time, as MQL5 datetime
    assert ea.bodies == [
        b"",
        b'{"source_tz":"NY+7","candles":['
        b'{"symbol":"EURUSD","timeframe":"H1","timestamp":1709906400,'
        b'"open":1.09000,"high":1.09150,"low":1.08950,"close":1.09050,"volume":0},'
        b'{"symbol":"EURUSD","timeframe":"H1","timestamp":1709910000,'
        b'"open":1.09010,"high":1.09160,"low":1.08960,"close":1.09060,"volume":1}]}',
    ]


def test_body_with_the_terminating_nul_is_stored_the_same(client, db):
    ea = Ea(client, Terminal(HISTORY[:5]), nul=True)
    ea.run()
    assert counts(ea.log) == [("GET", 404, None, None, None), ("POST", 201, 4, 4, 0)]
    assert len(rows(db)) == 4


def test_a_batch_sent_again_after_a_lost_answer_is_only_duplicates(client, db):
    ea = Ea(client, Terminal(HISTORY[:4]))
    ea.run()
    ea.sent = HISTORY[0].time  # the answer to the last POST timed out: the EA did not advance
    ea.run()
    assert counts(ea.log)[-1] == ("POST", 201, 2, 0, 2)
    assert len(rows(db)) == 3


def test_symbols_and_zones_are_url_encoded_like_the_ea_does(client, db):
    ea = Ea(client, Terminal(HISTORY[:3]), symbol="US Oil#+", zone=auto_zone(3 * 3600 + 7))
    ea.run()
    assert ea.zone == "+03:00"
    assert "symbol=US%20Oil%23%2B&timeframe=H1&source_tz=%2B03%3A00" in ea.log[0][1]
    restarted = Ea(client, Terminal(HISTORY[:4]), symbol="US Oil#+", zone="+03:00")
    restarted.run()
    assert counts(restarted.log) == [("GET", 200, None, None, None), ("POST", 201, 1, 1, 0)]
    assert [r[0] for r in rows(db)] == ["US Oil#+"] * 3
    assert stored_times(db)[0] == "2024-03-08 11:00"  # a fixed +03:00 clock


def test_update_mode_corrects_the_forming_bar_until_it_closes(client, db):
    terminal = Terminal(HISTORY[:5])
    ea = Ea(client, terminal, send_forming_bar=True)
    ea.run()
    assert counts(ea.log) == [
        ("GET", 404, None, None, None),
        ("POST", 201, 4, 4, 0),  # closed bars
        ("POST", 201, 1, 1, 0),  # the forming bar, partial
    ]
    ea.run()
    assert len(ea.log) == 3  # unchanged forming bar: nothing sent
    grown = replace(HISTORY[4], high=1.0950, close=1.0948, tick_volume=77)
    terminal.bars[-1] = grown
    ea.run()
    assert ea.log[-1][3]["records_updated"] == 1
    final = replace(grown, close=1.0921, tick_volume=90)
    terminal.bars[-1:] = [final, HISTORY[5]]  # bar 4 closes with its final values
    ea.run()
    assert [entry[3].get("records_updated") for entry in ea.log[-2:]] == [1, 0]
    stored = rows(db)[4]
    assert (str(stored[6]), stored[7]) == ("1.09210", 90)

    restarted = Ea(client, terminal, send_forming_bar=True)
    restarted.run()
    # latest is the stored forming bar: it is sent again (unchanged: a duplicate)
    assert counts(restarted.log) == [("GET", 200, None, None, None), ("POST", 201, 1, 0, 1)]
    assert "on_conflict=update" in restarted.log[1][1]


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
