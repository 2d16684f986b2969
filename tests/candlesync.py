"""mt5/CandleSync.mq5 in Python, function for function, over a simulated terminal and clock.

No terminal runs here, so the replay tests drive this twin against the real service: it
builds headers, URLs and bodies exactly as the EA's Http, UrlEncode and BatchJson do, and
follows OnTimer, Step, AskLatest, PendingBars, SendBars and SendForming step for step.
Each method names the MQL5 function it mirrors. `test_the_ea_source_builds_what_is_replayed`
keeps the two from drifting apart.
"""

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from candlesvc.model.candle import TIMEFRAMES
from tests.conftest import API_KEY

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


class Series:
    """What the terminal holds for one symbol and timeframe; the last bar is forming.

    `synchronized` is SERIES_SYNCHRONIZED; `unbuilt` holds bar times the terminal counts but
    whose CopyRates data is not ready yet; `copied` counts the bars CopyRates has returned.
    """

    def __init__(self, bars: list[Rates]) -> None:
        self.bars = list(bars)
        self.synchronized = True
        self.unbuilt: set[int] = set()
        self.copied = 0

    def itime(self, shift: int) -> int:
        """iTime(symbol, period, shift)."""
        return self.bars[-1 - shift].time if 0 <= shift < len(self.bars) else 0

    def count(self) -> int:
        """Bars(symbol, period)."""
        return len(self.bars)

    def count_between(self, start: int, stop: int) -> int:
        """Bars(symbol, period, start_time, stop_time): 0 while not synchronized."""
        inside = [bar for bar in self.bars if start <= bar.time <= stop]
        return len(inside) if self.synchronized else 0

    def copy_rates(self, start: int, stop: int) -> list[Rates]:
        """CopyRates(symbol, period, start_time, stop_time, rates): oldest first."""
        copied = [b for b in self.bars if start <= b.time <= stop and b.time not in self.unbuilt]
        self.copied += len(copied)
        return copied

    def copy_last(self) -> list[Rates]:
        """CopyRates(symbol, period, 0, 1, rates): the forming bar."""
        return self.bars[-1:]


@dataclass
class Terminal:
    """The terminal: its series by (symbol, timeframe), and its clocks."""

    series: dict[tuple[str, str], Series] = field(default_factory=dict)
    server_offset: int = 0  # TimeTradeServer() - TimeGMT(), in seconds
    now_ms: int = 1_000_000  # GetTickCount64()
    connected: bool = True  # TerminalInfoInteger(TERMINAL_CONNECTED)
    timer_ok: bool = True  # what EventSetTimer returns

    def time_trade_server_minus_gmt(self) -> int:
        """(long)TimeTradeServer() - (long)TimeGMT(), in seconds."""
        return self.server_offset


# --- the EA's text builders ---------------------------------------------------------------
def url_encode(text: str) -> str:
    """UrlEncode: every UTF-8 byte but A-Z a-z 0-9 - _ . ~ as %XX."""
    return quote(text, safe="")


def time_to_string(time: int) -> str:
    """TimeToString(time): yyyy.mm.dd hh:mi."""
    return (_EPOCH + timedelta(seconds=time)).strftime("%Y.%m.%d %H:%M")


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


def header_lines(api_key: str, body: str) -> str:
    """The headers string Http() passes to WebRequest."""
    headers = f"X-API-KEY: {api_key}\r\n"
    return f"Content-Type: application/json\r\n{headers}" if body else headers


@dataclass
class Inputs:
    """The EA's inputs, with their defaults."""

    service_url: str = SERVICE  # InpServiceUrl
    api_key: str = API_KEY  # InpApiKey
    symbols: str = "EURUSD"  # InpSymbols (the chart's symbol when empty)
    symbol_map: str = ""  # InpSymbolMap
    strip_suffix: str = ""  # InpStripSuffix
    timeframes: str = "H1"  # InpTimeframes
    server_time_zone: str = "NY+7"  # InpServerTimeZone
    send_forming_bar: bool = False  # InpSendFormingBar
    batch_size: int = 1000  # InpBatchSize
    backfill_bars: int = 10000  # InpBackfillBars
    timeout_ms: int = 5000  # InpTimeoutMs
    max_backoff_sec: int = 300  # InpMaxBackoffSec
    timer_seconds: int = 1  # InpTimerSeconds


@dataclass
class Stream:
    """struct Stream: one symbol and timeframe to keep in sync, with its own retry state."""

    symbol: str  # the broker's name, for the terminal
    stored: str  # the name the service stores it under
    name: str
    limit: int  # most bars per POST the service takes (halved on 413)
    batch: int  # bars per POST now (halved to find a refused bar)
    resumed: bool = False
    sent: int = 0
    refresh: bool = False  # POST in update mode until the stored bar was sent again
    forming: Rates | None = None
    refused: int = 0  # a forming bar the service refused
    waiting: bool = False
    stopped: bool = False
    backoff: int = 0
    retry_at: int = 0


@dataclass
class Request:
    """One WebRequest as the service saw it, and its answer."""

    method: str
    url: str
    body: bytes
    status: int
    answer: dict[str, Any]
    headers: dict[str, str]
    at_ms: int


@dataclass
class Reply:
    """What Http() gives back: the status, the answer's text (parsed too) and headers."""

    status: int
    text: str
    answer: dict[str, Any]
    headers: str  # WebRequest's result_headers: "Name: value" lines joined by CRLF


class CandleSync:
    """The EA, talking to a Flask test client; `latency_ms` is what each request costs."""

    def __init__(self, client: Any, terminal: Terminal, inputs: Inputs, **options: Any) -> None:
        self.client, self.terminal, self.inputs = client, terminal, inputs
        self.nul: bool = options.get("nul", False)  # send the terminating NUL, as careless EAs do
        self.latency_ms: int = options.get("latency_ms", 0)
        self.requests: list[Request] = []
        self.printed: list[str] = []
        self.streams: list[Stream] = []
        self.turn = 0  # g_turn
        self.paused = 0  # g_paused
        self.deadline = 0  # g_deadline

    # --- OnInit / OnTimer ---------------------------------------------------------------
    def on_init(self) -> bool:
        """OnInit: True for INIT_SUCCEEDED."""
        problem = self.input_problem() or self.parse_streams()
        if problem:
            self.print(problem)
            return False
        if not self.terminal.timer_ok:  # EventSetTimer(InpTimerSeconds) returned false
            self.print(f"EventSetTimer({self.inputs.timer_seconds}) failed, error 4030")
            return False
        return True

    def on_timer(self) -> None:
        """OnTimer: each stream in turn until the budget is used; the first one rotates."""
        n = len(self.streams)
        first, self.turn = self.turn, (self.turn + 1) % n
        self.deadline = self.now() + self.inputs.timeout_ms
        for k in range(n):
            if self.remaining() < self.inputs.timeout_ms // 2:
                break
            self.work(self.streams[(first + k) % n])

    def work(self, s: Stream) -> None:
        """Work: one stream's requests until it is idle, fails, or the budget is used."""
        result = 1
        while result > 0 and self.may_ask(s) and self.remaining() >= self.inputs.timeout_ms // 2:
            result = self.step(s)

    def may_ask(self, s: Stream) -> bool:
        """MayAsk: not stopped, not pausing after its own failure, nor after a Retry-After."""
        return not s.stopped and self.now() >= s.retry_at and self.now() >= self.paused

    def run(self, seconds: int = 1) -> None:
        """Let the terminal's timer fire for `seconds` of simulated time."""
        end = self.now() + seconds * 1000
        while self.now() < end:
            started = self.now()
            self.on_timer()
            self.terminal.now_ms = max(self.now(), started + self.inputs.timer_seconds * 1000)

    def step(self, s: Stream) -> int:
        """Step: 1 done (maybe more to do), 0 idle, -1 failed."""
        if not s.resumed:
            return self.ask_latest(s)
        bars = self.pending_bars(s)
        if bars:
            return self.send_bars(s, bars)
        if bars is not None and self.inputs.send_forming_bar:
            return self.send_forming(s)
        return 0

    # --- the conversation ---------------------------------------------------------------
    def ask_latest(self, s: Stream) -> int:
        """AskLatest: where does the stored history of this stream end?"""
        url = (
            f"{self.inputs.service_url}/api/v1/candles/latest?symbol={url_encode(s.stored)}"
            f"&timeframe={s.name}&source_tz={url_encode(self.zone())}"
        )
        reply = self.http("GET", url, "")
        if reply.status == 404:
            s.sent = 0
            self.print(
                f"{s.symbol} {s.name}: nothing stored yet, backfilling up to "
                f"{self.inputs.backfill_bars} bars"
            )
        elif reply.status == 200 and reply.answer.get("server_time", -1) > 0:
            s.sent = reply.answer["server_time"]
            self.print(f"{s.symbol} {s.name}: stored up to {time_to_string(s.sent)} (server time)")
            s.sent -= 1  # it may be a partial bar, from update mode: send it again
            s.refresh = True
        elif reply.status == 422:
            return self.stop(s, reply.text)
        else:
            return self.failed(s, "latest", reply)
        s.resumed, s.forming, s.backoff = True, None, 0
        return 1

    def stop(self, s: Stream, answer: str) -> int:
        """Stop: the service refuses this stream's symbol, timeframe or zone."""
        s.stopped = True
        self.print(
            f"{s.symbol} {s.name}: the service refuses this stream, HTTP 422 {answer}; "
            "it is stopped (check InpSymbolMap and InpServerTimeZone)"
        )
        return 0

    def pending_bars(self, s: Stream) -> list[Rates] | None:
        """PendingBars: the oldest closed bars after s.sent; None while history is incomplete."""
        series = self.terminal.series[(s.symbol, s.name)]
        if not self.terminal.connected or not series.synchronized:
            self.waiting(s, "the terminal is not connected, or its history is not in sync")
            return None
        forming, start = series.itime(0), self.first_pending(s)
        if forming == 0 or start == 0 or start >= forming:
            return self.ready(s, [])
        pending = series.count_between(start, forming - 1)
        if pending <= 0:
            return self.ready(s, [])
        count = min(pending, s.batch)
        stop = series.itime(pending - count + 1)
        bars = series.copy_rates(start, stop)
        if len(bars) != count or bars[0].time < start or bars[-1].time != stop:
            when = time_to_string(start)
            self.waiting(s, f"{len(bars)} of {count} bars from {when} copied")
            return None
        return self.ready(s, bars)

    def first_pending(self, s: Stream) -> int:
        """FirstPending: after s.sent, or InpBackfillBars back; never before the oldest bar."""
        series = self.terminal.series[(s.symbol, s.name)]
        available = series.count()
        if available < 2:
            return 0
        oldest = series.itime(available - 1)
        start = s.sent + 1
        if s.sent == 0:
            start = series.itime(min(self.inputs.backfill_bars, available - 1))
        return max(start, oldest)

    def waiting(self, s: Stream, why: str) -> None:
        """Waiting: log once that the stream waits for the terminal's history."""
        if not s.waiting:
            self.print(f"{s.symbol} {s.name}: waiting: {why}")
        s.waiting = True

    def ready(self, s: Stream, bars: list[Rates]) -> list[Rates]:
        """Ready: log once that the history is complete again."""
        if s.waiting:
            self.print(f"{s.symbol} {s.name}: history in sync, resuming")
        s.waiting = False
        return bars

    def send_bars(self, s: Stream, bars: list[Rates]) -> int:
        """SendBars: POST the bars; remember the last one as stored."""
        reply = self.http("POST", self.post_url(s), self.batch_json(s, bars))
        if reply.status in (413, 422):
            return self.refused(s, bars, reply)
        if reply.status != 201:
            return self.failed(s, "POST", reply)
        s.sent, s.refresh, s.backoff = bars[-1].time, False, 0
        self.print(
            f"{s.symbol} {s.name}: {len(bars)} bar(s) {time_to_string(bars[0].time)} .. "
            f"{time_to_string(s.sent)}: {reply.text}"
        )
        return 1

    def refused(self, s: Stream, bars: list[Rates], reply: Reply) -> int:
        """Refused: halve the batch until the refused bar is alone, then skip it."""
        first = s.limit == self.inputs.batch_size if reply.status == 413 else s.batch == s.limit
        if reply.status == 413:
            s.limit = max(1, len(bars) // 2)
        when = time_to_string(bars[0].time)
        if len(bars) > 1:
            s.batch = min(s.limit, len(bars) // 2)
            lower = " (lower InpBatchSize to MAX_BATCH)" if reply.status == 413 else ""
            if first:
                self.print(
                    f"{s.symbol} {s.name}: {len(bars)} bar(s) from {when} refused, HTTP "
                    f"{reply.status} {reply.text}; retrying {s.batch} at a time{lower}"
                )
            return 1
        self.print(
            f"{s.symbol} {s.name}: bar {when} refused, HTTP {reply.status} {reply.text}; skipped"
        )
        s.sent, s.batch = bars[0].time, s.limit
        return 1

    def send_forming(self, s: Stream) -> int:
        """SendForming: update mode, POST the forming bar when it changed; 0 done, -1 failed."""
        bar = self.terminal.series[(s.symbol, s.name)].copy_last()[0]
        if bar.time == s.refused or bar == s.forming:
            return 0
        reply = self.http("POST", self.post_url(s), self.batch_json(s, [bar]))
        if reply.status in (413, 422):
            s.refused = bar.time
            self.print(
                f"{s.symbol} {s.name}: forming bar {time_to_string(bar.time)} refused, "
                f"HTTP {reply.status} {reply.text}"
            )
            return 0
        if reply.status != 201:
            return self.failed(s, "POST forming bar", reply)
        s.forming, s.backoff = bar, 0
        return 0

    def post_url(self, s: Stream) -> str:
        """PostUrl: update mode while the forming bar is sent, or until s.refresh is done."""
        update = "?on_conflict=update" if self.inputs.send_forming_bar or s.refresh else ""
        return f"{self.inputs.service_url}/api/v1/candles{update}"

    def batch_json(self, s: Stream, bars: list[Rates]) -> str:
        return batch_json(s.stored, s.name, self.zone(), bars)

    def http(self, method: str, url: str, body: str) -> Reply:
        """Http: WebRequest(method, url, headers, timeout, data, result, result_headers)."""
        data = body.encode() + (b"\0" if self.nul and body else b"")
        lines = header_lines(self.inputs.api_key, body).split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines if line)
        response = self.client.open(
            url, method=method, data=data, headers=TERMINAL_HEADERS | headers
        )
        self.terminal.now_ms += self.latency_ms
        text = response.get_data(as_text=True)
        answer = json.loads(text or "{}")
        self.requests.append(
            Request(
                method,
                url,
                data,
                response.status_code,
                answer,
                dict(response.headers),
                self.terminal.now_ms,
            )
        )
        result_headers = "".join(f"{k}: {v}\r\n" for k, v in response.headers.items())
        return Reply(response.status_code, text, answer, result_headers)

    def failed(self, s: Stream, what: str, reply: Reply) -> int:
        """Failed: this stream pauses 1, 2, 4 ... s; a 429/503 Retry-After pauses every stream."""
        s.backoff = min(max(1, s.backoff * 2), self.inputs.max_backoff_sec)
        wait = retry_after(reply.headers) if reply.status in (429, 503) else 0
        if wait > 0:
            self.paused = self.now() + wait * 1000
        else:
            wait = s.backoff
        s.retry_at = self.now() + wait * 1000
        everyone = " (Retry-After: all streams wait)" if self.paused > self.now() else ""
        self.print(
            f"{s.symbol} {s.name}: {what} answered HTTP {reply.status} {reply.text}; "
            f"retrying in {wait} s{everyone}"
        )
        return -1

    def now(self) -> int:
        return self.terminal.now_ms

    def remaining(self) -> int:
        return max(0, self.deadline - self.now())

    def zone(self) -> str:
        """Zone: the input, or for "auto" the broker's offset from TimeTradeServer() - TimeGMT().

        Both are cast to long before subtracting: MQL5 stores datetime as ulong.
        """
        if self.inputs.server_time_zone != "auto":
            return self.inputs.server_time_zone
        offset = self.terminal.time_trade_server_minus_gmt()
        quarters = int(math.copysign(math.floor(abs(offset / 900) + 0.5), offset))  # MathRound
        minutes = abs(quarters) * 15
        return f"{'-' if quarters < 0 else '+'}{minutes // 60:02d}:{minutes % 60:02d}"

    # --- inputs -------------------------------------------------------------------------
    def input_problem(self) -> str:
        """InputProblem: "" when the inputs can work, else what to change."""
        i = self.inputs
        url = i.service_url
        if not url.startswith(("http://", "https://")):
            return "InpServiceUrl must start with http:// or https://, e.g. http://127.0.0.1:8000"
        if url.endswith("/"):
            return "InpServiceUrl must not end with /: the EA adds /api/v1/... to it"
        if has_blank(url) or "?" in url or "#" in url:
            return "InpServiceUrl must be the service's address only, without blanks, ? or #"
        if not i.api_key or has_blank(i.api_key):
            return "InpApiKey must be one of the service's MT5_API_KEY keys"
        for pair in i.symbol_map.split(","):
            if pair.strip() and not (map_key(pair) and map_value(pair)):
                return f"InpSymbolMap: '{pair.strip()}' is not broker=stored, e.g. GOLD=XAUUSD"
        if not i.server_time_zone or has_blank(i.server_time_zone):
            return "InpServerTimeZone must be NY+7, an IANA name, an offset such as +02:00, or auto"
        checks = [
            (
                i.batch_size < 1,
                "InpBatchSize must be at least 1 (and at most the service's MAX_BATCH)",
            ),
            (i.backfill_bars < 1, "InpBackfillBars must be at least 1"),
            (not 1000 <= i.timeout_ms <= 60000, "InpTimeoutMs must be between 1000 and 60000"),
            (i.max_backoff_sec < 1, "InpMaxBackoffSec must be at least 1"),
            (i.timer_seconds < 1, "InpTimerSeconds must be at least 1"),
        ]
        return next((problem for failed, problem in checks if failed), "")

    def parse_streams(self) -> str:
        """ParseStreams and AddStream: one stream per symbol and timeframe; "" or the problem."""
        known = {symbol for symbol, _ in self.terminal.series}
        self.streams = []
        for symbol in (s.strip() for s in self.inputs.symbols.split(",")):
            if not symbol:
                continue
            if symbol not in known:  # SymbolSelect(symbol, true) fails
                return f"InpSymbols: unknown symbol '{symbol}'"
            stored = self.stored_name(symbol)
            if stored != symbol:
                self.print(f"{symbol} is stored as {stored}")
            for name in (f.strip().upper() for f in self.inputs.timeframes.split(",")):
                problem = self.add_stream(symbol, stored, name)
                if problem:
                    return problem
        return "" if self.streams else "InpSymbols and InpTimeframes name no stream"

    def add_stream(self, symbol: str, stored: str, name: str) -> str:
        """AddStream: "" or why this stream cannot be added."""
        for other in self.streams:
            if other.stored == stored and other.name == name:
                return (
                    f"{other.symbol} and {symbol} would both be stored as {stored} {name}: "
                    "give them different names in InpSymbolMap"
                )
        if name not in TIMEFRAMES:
            return f"InpTimeframes: unknown timeframe '{name}' (use M1 ... H1 ... MN1)"
        batch = self.inputs.batch_size
        self.streams.append(Stream(symbol, stored, name, batch, batch))
        return ""

    def stored_name(self, symbol: str) -> str:
        """StoredName: its InpSymbolMap entry, else the symbol without InpStripSuffix."""
        for pair in self.inputs.symbol_map.split(","):
            if map_key(pair) == symbol:
                return map_value(pair)
        suffix = self.inputs.strip_suffix
        if suffix and len(symbol) > len(suffix) and symbol.endswith(suffix):
            return symbol[: -len(suffix)]
        return symbol

    def print(self, line: str) -> None:
        """Print("CandleSync: ", line) to the Experts log."""
        self.printed.append(f"CandleSync: {line}")


def retry_after(headers: str) -> int:
    """RetryAfter: the seconds of a "Retry-After: N" answer header, or 0."""
    headers = headers.lower()
    at = ("\n" + headers).find("\nretry-after:")
    return 0 if at < 0 else max(0, digits_at(headers, at + 12))


def digits_at(text: str, at: int) -> int:
    """DigitsAt: the digits at `at`, after any spaces, as a number; -1 when there are none."""
    while text[at : at + 1] == " ":
        at += 1
    end = at
    while end < len(text) and text[end].isdigit():
        end += 1
    return int(text[at:end]) if end > at else -1


def map_key(pair: str) -> str:
    """MapKey: the broker side of a broker=stored entry ("" when there is no =)."""
    return pair.split("=", 1)[0].strip() if "=" in pair else ""


def map_value(pair: str) -> str:
    """MapValue: the stored side of a broker=stored entry ("" when there is no =)."""
    return pair.split("=", 1)[1].strip() if "=" in pair else ""


def has_blank(text: str) -> bool:
    """HasBlank: a space, tab, line break or other control character anywhere in the text."""
    return any(ord(char) <= ord(" ") for char in text)
