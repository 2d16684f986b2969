"""Small builders shared by the tests."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.types.numeric import NumericBinaryLoader

from candlesvc.store.writer import EncodedBatch
from tests.conftest import API_KEY


def candle(**overrides: Any) -> dict[str, Any]:
    """A valid candle as an EA would send it."""
    base = {
        "symbol": "EURUSD",
        "timeframe": "M1",
        "timestamp": "2024-01-02T10:00:00Z",
        "open": 1.1,
        "high": 1.2,
        "low": 1.0,
        "close": 1.15,
        "volume": 42,
    }
    return base | overrides


def minute_candles(count: int, start: int = 0, symbol: str = "EURUSD") -> list[dict[str, Any]]:
    """`count` distinct M1 candles, one minute apart, starting `start` minutes after 2024."""
    return [
        candle(symbol=symbol, timestamp=1_704_153_600 + 60 * (start + i), volume=i)
        for i in range(count)
    ]


def post(client: Any, body: Any, key: str | None = API_KEY, **kwargs: Any) -> Any:
    """POST a body (encoded as JSON unless already bytes) to the ingest endpoint."""
    headers = {"X-API-KEY": key} if key is not None else {}
    headers |= kwargs.pop("headers", {})
    data = body if isinstance(body, bytes) else json.dumps(body)
    content_type = kwargs.pop("content_type", "application/json")
    return client.post(
        "/api/v1/candles", data=data, headers=headers, content_type=content_type, **kwargs
    )


def rows(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    """Every stored candle, in key order, without id and created_at."""
    return conn.execute(
        'SELECT symbol, timeframe, "timestamp", open, high, low, close, volume'
        ' FROM market_data_candles ORDER BY symbol, timeframe, "timestamp"'
    ).fetchall()


def copy_rows(batch: EncodedBatch) -> list[tuple[str, ...]]:
    """A batch's COPY rows as texts, prices in fixed notation, whichever the data's format."""
    if batch.data is None:
        return []
    if batch.binary:
        return [_binary_row_texts(fields) for fields in _binary_rows(batch.data)]
    return [_text_row_texts(line.split("\t")) for line in batch.data.decode().splitlines()]


def _text_row_texts(fields: list[str]) -> tuple[str, ...]:
    """A COPY text row's fields, its prices in fixed notation."""
    symbol, timeframe, stamp, *prices, volume = fields
    return (symbol, timeframe, stamp, *(format(Decimal(p), "f") for p in prices), volume)


def _binary_row_texts(fields: list[bytes]) -> tuple[str, ...]:
    """A binary COPY row's fields (volume before prices) as the texts of a COPY text row."""
    symbol, timeframe, stamp, volume, *prices = fields
    micros = int.from_bytes(stamp, "big", signed=True)
    instant = datetime(2000, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
    numeric = NumericBinaryLoader(1700).load
    return (
        symbol.decode(),
        timeframe.decode(),
        str(instant).replace("+00:00", "+00"),
        *(format(numeric(price), "f") for price in prices),
        str(int.from_bytes(volume, "big", signed=True)),
    )


def _binary_rows(data: bytes) -> Iterator[list[bytes]]:
    """The fields of each row of binary COPY data (no header, no trailer)."""
    at = 0
    while at < len(data):
        count, at = int.from_bytes(data[at : at + 2], "big"), at + 2
        fields = []
        for _ in range(count):
            size, at = int.from_bytes(data[at : at + 4], "big"), at + 4
            fields.append(data[at : at + size])
            at += size
        yield fields
