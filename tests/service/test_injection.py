"""Injection attempts in every string field and header: stored literally or refused, never run.

Each test sends every payload in turn to one database and checks, after each request, that
the answer is 201 or 422 (401 for keys), that the table still holds exactly the acknowledged
rows, and that the logs are still one JSON object per line.
"""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import API_KEY
from tests.helpers import candle, post, rows
from tests.strategies import symbol_rule

LONG = "A" * 10_000
PAYLOADS = [
    "'; DROP TABLE market_data_candles; --",
    "';DROP TABLE market_data_candles",  # 32 characters: a valid symbol
    "';TRUNCATE market_data_candles;",
    '" OR 1=1 --',
    "' OR '1'='1",
    "1; SELECT pg_sleep(5)",
    "\x00",
    "A\x00B",
    "$$",
    "$1",
    "%s",
    "%(x)s",
    "{}",
    "{0}",
    "NULL",
    "\\N",  # COPY's NULL marker
    "\\.",  # COPY's end-of-data marker
    "A\\tB",
    "\\",
    'A"B',
    "{A,B}",  # an array literal
    "A\tB",
    "A\r\nB",
    '\r\n{"level": "error", "msg": "forged"}',
    '{"candles": []}',
    "${jndi:ldap://example.com/a}",
    "<script>alert(1)</script>",
    "../../etc/passwd",
    "\u202eDSUREU",  # right-to-left override
    "EUR\u200bUSD",  # zero-width space
    "\ufeffEURUSD",  # byte order mark
    "EUR\u2028USD",  # line separator
    "ÉURUSD🦄",
    LONG[:32],
    LONG,
]
START = datetime(2024, 1, 2, tzinfo=UTC)
PAD = 64  # extra candles that push a batch past writer.SMALL_BATCH onto the COPY path


def minute(i: int) -> str:
    return (START + timedelta(minutes=i)).isoformat()


def stored(db) -> set[tuple[str, str, datetime]]:
    assert db.execute("SELECT to_regclass('market_data_candles') IS NOT NULL").fetchone()[0]
    return {row[:3] for row in rows(db)}


def one_json_object_per_line(err: str, requests: int) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in err.splitlines() if line]
    assert all(isinstance(line, dict) for line in lines)
    assert sum(line["msg"] == "request" for line in lines) == requests
    assert not any(API_KEY in json.dumps(line) for line in lines)
    return lines


@pytest.mark.parametrize("padded", [False, True], ids=["arrays", "copy"])
def test_a_symbol_is_stored_byte_for_byte_or_refused(client, db, capsys, padded):
    acknowledged = set()
    for i, payload in enumerate(PAYLOADS):
        batch = [candle(symbol=payload, timestamp=minute(i))]
        if padded:
            batch += [candle(symbol="~PAD", timestamp=minute(1000 + j)) for j in range(PAD)]
        response = post(client, {"candles": batch})
        if symbol_rule(payload):
            assert response.status_code == 201, (payload, response.get_json())
            acknowledged |= {
                (c["symbol"], "M1", datetime.fromisoformat(c["timestamp"])) for c in batch
            }
        else:
            assert response.status_code == 422, (payload, response.get_json())
            assert response.get_json()["errors"][0]["loc"] == "candles[0].symbol"
        assert stored(db) == acknowledged
    symbols = {row[0].encode() for row in acknowledged}
    assert {p.encode() for p in PAYLOADS if symbol_rule(p)} <= symbols
    one_json_object_per_line(capsys.readouterr().err, len(PAYLOADS))


@pytest.mark.parametrize("field", ["timeframe", "timestamp"])
def test_a_payload_as_timeframe_or_timestamp_is_refused(client, db, capsys, field):
    for payload in PAYLOADS:
        response = post(client, {"candles": [candle(**{field: payload})]})
        assert response.status_code == 422, (payload, response.get_json())
        assert response.get_json()["errors"][0]["loc"] == f"candles[0].{field}"
        assert stored(db) == set()
    one_json_object_per_line(capsys.readouterr().err, len(PAYLOADS))


def test_a_payload_as_source_tz_is_refused(client, db, capsys):
    payloads = PAYLOADS
    for payload in payloads:
        response = post(client, {"source_tz": payload, "candles": [candle()]})
        assert response.status_code == 422, (payload, response.get_json())
        assert response.get_json()["errors"][0]["loc"] == "source_tz"
        assert stored(db) == set()
    one_json_object_per_line(capsys.readouterr().err, len(payloads))


def test_a_payload_as_field_name_or_on_conflict_is_refused(client, db, capsys):
    for payload in PAYLOADS:
        assert post(client, {"candles": [candle() | {payload: 1}]}).status_code == 422
        assert post(client, {"candles": [candle()], payload: 1}).status_code == 422
        response = post(client, {"candles": [candle()]}, query_string={"on_conflict": payload})
        assert response.status_code == 422, (payload, response.get_json())
        assert stored(db) == set()
    one_json_object_per_line(capsys.readouterr().err, 3 * len(PAYLOADS))


def as_sent_over_http(value: str) -> str:
    """Header values reach WSGI as latin-1 text; CR, LF and NUL cannot be sent at all."""
    return value.encode()[:8000].decode("latin-1")


HEADER_PAYLOADS = [as_sent_over_http(p) for p in PAYLOADS if not {"\r", "\n", "\0"} & set(p)]


def safe_request_id(value: str) -> bool:
    return 1 <= len(value) <= 64 and all(
        c.isascii() and (c.isalnum() or c in "._:-") for c in value
    )


def test_a_payload_as_request_id_is_echoed_only_when_safe(client, db, capsys):
    echoed = []
    for i, payload in enumerate(HEADER_PAYLOADS):
        response = post(
            client,
            {"candles": [candle(timestamp=minute(i))]},
            headers={"X-Request-ID": payload},
        )
        assert response.status_code == 201, (payload, response.get_json())
        echoed.append(response.headers["X-Request-ID"])
        if not safe_request_id(payload):
            assert len(echoed[-1]) == 32, payload  # generated instead
        else:
            assert echoed[-1] == payload
    lines = one_json_object_per_line(capsys.readouterr().err, len(HEADER_PAYLOADS))
    assert [line["request_id"] for line in lines if line["msg"] == "request"] == echoed
    assert len(stored(db)) == len(HEADER_PAYLOADS)


def test_a_payload_as_api_key_is_refused_and_never_echoed(client, db, capsys):
    for payload in [*HEADER_PAYLOADS, API_KEY + "'", API_KEY + " OR 1=1", API_KEY.upper()]:
        response = post(client, {"candles": [candle()]}, key=payload)
        assert response.status_code == 401, payload
        assert payload not in response.get_data(as_text=True)
        assert stored(db) == set()
    err = capsys.readouterr().err
    one_json_object_per_line(err, len(HEADER_PAYLOADS) + 3)
    assert "DROP TABLE" not in err
