"""Fuzzing over HTTP: schemathesis against the served /openapi.json, then hostile bodies.

Every response is one the OpenAPI document describes, never a 500, and a batch that is not
acknowledged with 201 stores nothing.
"""

import gzip
import json
from decimal import Decimal
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from candlesvc.model.candle import validate_batch
from candlesvc.model.timezones import parse_zone
from tests.conftest import API_KEY
from tests.helpers import candle, post, rows
from tests.strategies import batches, to_json

pytestmark = pytest.mark.slow  # long fuzzing

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
SCHEMATHESIS = settings(
    max_examples=30,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
FUZZ = settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
UTC_ZONE = parse_zone("UTC")
ANSWERS = {201, 413, 415, 422}  # with a valid key, nothing else (and never a 500)


def served_schema(app):
    """The OpenAPI document as the live app serves it, bound to that app."""
    raw = app.test_client().get("/openapi.json").get_json()
    schema = schemathesis.openapi.from_dict(raw)
    schema.app = app
    return schema


def takes_input(operation) -> bool:
    definition = operation.definition.raw
    return bool(definition.get("parameters") or definition.get("requestBody"))


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_answers_as_the_served_openapi_document_says(app, mode):
    operations = [result.ok() for result in served_schema(app).get_all_operations()]
    assert {op.label for op in operations} >= {"POST /api/v1/candles", "GET /health"}
    for operation in operations:
        if mode is GenerationMode.NEGATIVE and not takes_input(operation):
            continue

        @SCHEMATHESIS
        @given(case=operation.as_strategy(generation_mode=mode))
        def answers_as_documented(case):
            case.call_and_validate(headers={"X-API-KEY": API_KEY}, checks=CHECKS)

        try:
            answers_as_documented()
        except Exception as error:
            error.add_note(f"operation: {operation.label} ({mode.value} data)")
            raise


# ---- hostile bodies with a valid key --------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=12,
)
CANDLE_KEYS = st.sampled_from([*candle(), "source_tz", "candles", "tick_volume"])
CANDLE_LIKE = st.dictionaries(CANDLE_KEYS, JSON, max_size=9)
BODIES = st.one_of(
    JSON,
    st.fixed_dictionaries({"candles": JSON}),
    st.fixed_dictionaries({"candles": st.lists(CANDLE_LIKE, max_size=3)}),
    st.fixed_dictionaries(
        {
            "candles": st.lists(
                st.builds(
                    lambda c, extra: candle() | c | extra,
                    CANDLE_LIKE,
                    st.dictionaries(CANDLE_KEYS, JSON, max_size=1),
                ),
                min_size=1,
                max_size=3,
            )
        },
        optional={"source_tz": JSON},
    ),
)


def decoded(body: bytes) -> Any:
    """What the service parses out of a body: JSON, perhaps followed by MT5's NUL."""
    return json.loads(body.rstrip(b"\0"), parse_float=Decimal)


def answered_and_stored_consistently(response, db, body: bytes) -> None:
    """201 with exactly what the model accepts stored, or an error that stored nothing."""
    event(str(response.status_code))
    assert response.status_code in ANSWERS, (body[:300], response.get_data()[:500])
    if response.status_code != 201:
        assert response.mimetype == "application/problem+json"
        assert rows(db) == []
        return
    accepted = validate_batch(decoded(body), UTC_ZONE).candles
    keys = {(c.symbol, c.timeframe, c.timestamp) for c in accepted}
    assert response.get_json()["received"] == len(accepted)
    assert response.get_json()["records_added"] == len(keys)
    assert {row[:3] for row in rows(db)} == keys


@FUZZ
@given(body=BODIES)
def test_any_json_body_is_stored_or_refused_never_a_500(client, db, body):
    db.execute("DELETE FROM market_data_candles")
    data = json.dumps(body).encode()
    answered_and_stored_consistently(post(client, data), db, data)


@FUZZ
@given(
    data=st.one_of(
        st.binary(max_size=300),
        st.binary(max_size=300).map(lambda b: b"\x1f\x8b" + b),
        st.binary(max_size=300).map(gzip.compress),
        st.text(max_size=100).map(lambda t: t.encode("utf-16")),
    ),
    nul=st.booleans(),
    gzipped=st.booleans(),
)
def test_any_bytes_are_refused_cleanly_never_a_500(client, db, data, nul, gzipped):
    db.execute("DELETE FROM market_data_candles")
    body = data + b"\0" * nul
    headers = {"Content-Encoding": "gzip"} if gzipped else {}
    response = post(client, body, headers=headers)
    event(str(response.status_code))
    assert response.status_code in ANSWERS, (body[:300], response.get_data()[:500])
    assert response.status_code != 201 or _is_batch(body, gzipped)
    if response.status_code != 201:
        assert rows(db) == []


def _is_batch(body: bytes, gzipped: bool) -> bool:
    try:
        validate_batch(decoded(gzip.decompress(body) if gzipped else body), UTC_ZONE)
    except (ValueError, OSError, ValidationError):
        return False
    return True


PIECES = st.sampled_from(
    [b'"', b"\\", b",", b"{", b"]", b"-", b"e", b"\0", b"\xff", b"\xc3", b"NaN", b"1e999", b" "]
)
MUTATIONS = st.sampled_from(["digit", "digit", "replace", "insert", "delete", "repeat", "cut"])


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A batch with digits changed, or bytes replaced, inserted, deleted, repeated or cut off."""
    text = bytearray(to_json(draw(batches()).body).encode())
    for _ in range(draw(st.integers(1, 3))):
        at, kind = draw(st.integers(0, len(text))), draw(MUTATIONS)
        digits = [i for i, byte in enumerate(text) if chr(byte).isdigit()]
        if kind == "digit" and digits:
            text[draw(st.sampled_from(digits))] = ord(draw(st.sampled_from("0123456789")))
        elif kind == "replace":
            piece = draw(PIECES)
            text[at : at + len(piece)] = piece
        elif kind == "insert":
            text[at:at] = draw(PIECES)
        elif kind == "delete":
            del text[at : at + draw(st.integers(1, 8))]
        elif kind == "repeat":
            text[at:at] = text[max(0, at - 20) : at]
        elif kind == "cut":
            del text[at:]
    return bytes(text)


@FUZZ
@given(body=mutated())
def test_a_mutated_batch_is_stored_as_the_model_reads_it_or_refused(client, db, body):
    db.execute("DELETE FROM market_data_candles")
    answered_and_stored_consistently(post(client, body), db, body)


@FUZZ
@given(
    content_type=st.one_of(
        st.sampled_from(
            [
                "text/plain",
                "application/x-www-form-urlencoded",
                "application/xml",
                "application/json; charset=utf-8",
                "APPLICATION/JSON",
                "",
                "application/jsonx",
                "multipart/form-data; boundary=x",
            ]
        ),
        st.from_regex(r"\A[a-z]{1,8}/[a-z+.-]{1,12}(; ?[a-z]{1,8}=[a-z0-9-]{1,8})?\Z"),
    )
)
def test_a_body_that_is_not_declared_as_json_is_refused_with_415(client, db, content_type):
    db.execute("DELETE FROM market_data_candles")
    response = post(client, {"candles": [candle()]}, content_type=content_type)
    expected = 201 if content_type.split(";")[0].strip().lower() == "application/json" else 415
    assert response.status_code == expected, response.get_data()
    assert len(rows(db)) == (expected == 201)
