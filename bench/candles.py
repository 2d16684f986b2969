"""Deterministic candles: COPY rows, JSON objects, pre-encoded HTTP requests, MT5 exports."""

import random
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import NamedTuple

START = datetime(2020, 1, 1, tzinfo=UTC)
CopyRow = tuple[str, str, datetime, Decimal, Decimal, Decimal, Decimal, int]


class Bar(NamedTuple):
    """One M1 bar: minutes after START, prices as 5-decimal strings, tick volume."""

    minute: int
    open: str
    high: str
    low: str
    close: str
    volume: int

    @property
    def moment(self) -> datetime:
        """The bar's UTC open time."""
        return START + timedelta(minutes=self.minute)


def bars(count: int, first_minute: int = 0, seed: int = 1) -> Iterator[Bar]:
    """A random walk of `count` consecutive M1 bars with consistent OHLC."""
    draw = random.Random(seed).random
    price = 110_000  # 1.10000 in units of 0.00001
    for minute in range(first_minute, first_minute + count):
        close = max(1_000, price + int(draw() * 101) - 50)
        high = max(price, close) + int(draw() * 31)
        low = min(price, close) - int(draw() * 31)
        yield Bar(minute, _fmt(price), _fmt(high), _fmt(low), _fmt(close), int(draw() * 2000))
        price = close


def _fmt(units: int) -> str:
    return f"{units // 100_000}.{units % 100_000:05d}"


@cache
def day_of(minute: int) -> date:
    """The UTC date of a minute after START (cached per day)."""
    return START.date() + timedelta(days=minute // 1440)


def iso_stamp(minute: int) -> str:
    """The minute as ISO 8601 UTC text, e.g. 2020-01-01T00:01:00Z."""
    return f"{day_of(minute - minute % 1440).isoformat()}T{_CLOCK[minute % 1440]}Z"


_CLOCK = [f"{h:02d}:{m:02d}:00" for h in range(24) for m in range(60)]


def copy_row(bar: Bar, symbol: str, timeframe: str = "M1") -> CopyRow:
    """The bar as the typed tuple the writer would send."""
    prices = (Decimal(bar.open), Decimal(bar.high), Decimal(bar.low), Decimal(bar.close))
    return (symbol, timeframe, bar.moment, *prices, bar.volume)


def candle_json(bar: Bar, symbol: str, timeframe: str = "M1") -> str:
    """The bar as one JSON object of the API's request body."""
    stamp = iso_stamp(bar.minute)
    return (
        f'{{"symbol":"{symbol}","timeframe":"{timeframe}","timestamp":"{stamp}",'
        f'"open":{bar.open},"high":{bar.high},"low":{bar.low},"close":{bar.close},'
        f'"volume":{bar.volume}}}'
    )


def copy_chunks(bars_: Sequence[Bar], symbol: str, size: int = 1 << 20) -> list[bytes]:
    """The bars as COPY text-format lines, in chunks of about `size` bytes."""
    chunks: list[bytes] = []
    lines: list[str] = []
    length = 0
    for bar in bars_:
        line = (
            f"{symbol}\tM1\t{iso_stamp(bar.minute)[:-1]}+00\t{bar.open}\t{bar.high}\t"
            f"{bar.low}\t{bar.close}\t{bar.volume}\n"
        )
        lines.append(line)
        length += len(line)
        if length >= size:
            chunks.append("".join(lines).encode())
            lines, length = [], 0
    return [*chunks, "".join(lines).encode()] if lines else chunks


def http_request(host: str, api_key: str, candles: Sequence[str]) -> bytes:
    """A complete HTTP/1.1 POST /api/v1/candles request carrying the candles."""
    body = ('{"candles":[' + ",".join(candles) + "]}").encode()
    head = (
        f"POST /api/v1/candles HTTP/1.1\r\nHost: {host}\r\nX-API-KEY: {api_key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def split_requests(
    host: str, api_key: str, candles: Sequence[str], clients: int, batch: int
) -> list[list[bytes]]:
    """Give each client a contiguous share of the candles, as requests of `batch` each."""
    share = len(candles) // clients
    plans = []
    for client in range(clients):
        mine = candles[client * share : (client + 1) * share]
        plans.append(
            [http_request(host, api_key, mine[i : i + batch]) for i in range(0, len(mine), batch)]
        )
    return plans


_MT5_HEADER = "<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>\n"
_PRICES = 100_000  # distinct price bars in an export, repeated with ever later times
Prices = list[tuple[str, str, str, str, int]]


def write_exports(folder: Path, rows: int, with_csv: bool) -> tuple[Path, Path | None]:
    """An MT5 M1 export of EURUSD, named as MT5 names it, and if asked the rows as plain CSV."""
    prices = [(b.open, b.high, b.low, b.close, b.volume) for b in bars(min(rows, _PRICES))]
    last = START + timedelta(minutes=rows - 1)
    mt5_path = folder / f"EURUSD_M1_{START:%Y%m%d%H%M}_{last:%Y%m%d%H%M}.csv"
    csv_path = folder / f"EURUSD_M1_{rows}.plain.csv" if with_csv else None
    with mt5_path.open("w") as mt5, (csv_path or Path("/dev/null")).open("w") as csv:
        mt5.write(_MT5_HEADER)
        for day_start in range(0, rows, 1440):
            day = (START + timedelta(minutes=day_start)).date()
            span = range(day_start, min(rows, day_start + 1440))
            mt5.write(_mt5_lines(day.strftime("%Y.%m.%d"), span, prices))
            if csv_path:
                csv.write(_csv_lines(day.isoformat(), span, prices))
    return mt5_path, csv_path


def _mt5_lines(day: str, span: range, prices: Prices) -> str:
    return "".join(
        f"{day}\t{_CLOCK[m % 1440]}\t{o}\t{h}\t{lo}\t{c}\t{v}\t0\t0\n"
        for m in span
        for o, h, lo, c, v in (prices[m % len(prices)],)
    )


def _csv_lines(day: str, span: range, prices: Prices) -> str:
    return "".join(
        f"EURUSD,M1,{day} {_CLOCK[m % 1440]}+00,{o},{h},{lo},{c},{v}\n"
        for m in span
        for o, h, lo, c, v in (prices[m % len(prices)],)
    )
