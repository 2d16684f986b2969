"""Small builders shared by the tests."""

import json
from typing import Any

import psycopg

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
