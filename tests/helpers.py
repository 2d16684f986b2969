"""Small builders shared by the tests."""

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import psycopg
from prometheus_client.parser import text_string_to_metric_families
from psycopg import sql

from candlesvc.store import table
from candlesvc.store.encoding import EncodedBatch
from tests.conftest import API_KEY

ROOT = Path(__file__).resolve().parent.parent  # the repository
FIXTURES = ROOT / "tests" / "fixtures"
Row = tuple[Any, ...]


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
    return conn.execute(table.SELECT_ROWS).fetchall()


def copy_rows(conn: psycopg.Connection[Any], *batches: EncodedBatch) -> list[list[Row]]:
    """Each batch's COPY rows as PostgreSQL reads them (as texts, in order), either format.

    The batches are COPYed into the writer's own staging table (one COPY per format), in a
    transaction rolled back.
    """
    texts = sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c)) for c in table.COLUMNS)
    copied = [b for b in batches if b.data and not b.binary] + [
        b for b in batches if b.data and b.binary
    ]
    with conn.transaction(force_rollback=True), conn.cursor() as cur:
        cur.execute("SET LOCAL timezone = 'UTC'")
        cur.execute(table.STAGE)
        for binary in (False, True):
            data = b"".join(b.data or b"" for b in copied if b.binary is binary)
            if data:
                with cur.copy(table.copy(table.STAGING, binary)) as copy:
                    copy.write(replace(copied[0], data=data, binary=binary).copy_data())
        query = sql.SQL("SELECT {} FROM {} ORDER BY ord").format(texts, table.STAGING)
        found = iter(cur.execute(query).fetchall())
        rows = {id(b): [tuple(next(found)) for _ in range(b.size)] for b in copied}
    return [rows.get(id(b), []) for b in batches]


@dataclass
class Scraped:
    """A /metrics answer as Prometheus parses it: each sample's value by name and labels."""

    text: str
    values: dict[tuple[str, frozenset[tuple[str, str]]], float] = field(init=False)

    def __post_init__(self) -> None:
        families = text_string_to_metric_families(self.text)
        self.values = {
            (s.name, frozenset(s.labels.items())): s.value for f in families for s in f.samples
        }

    def __call__(self, name: str, **labels: str) -> float:
        """The value of one sample, which must be present."""
        key = (name, frozenset(labels.items()))
        assert key in self.values, f"no sample {name} {labels}"
        return self.values[key]

    def labels(self, name: str) -> dict[frozenset[tuple[str, str]], float]:
        """Every sample of one name, by its labels."""
        return {labels: v for (n, labels), v in self.values.items() if n == name}
