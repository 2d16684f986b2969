"""POST /api/v1/candles: status codes, bodies and, above all, the stored rows."""

import json
from datetime import UTC, datetime
from decimal import Decimal

from tests.conftest import API_KEY, OTHER_KEY
from tests.helpers import candle, minute_candles, post, rows


def test_valid_batch_is_stored_exactly(client, db):
    response = post(client, {"candles": [candle()]})
    assert response.status_code == 201
    assert response.get_json() == {"received": 1, "records_added": 1, "duplicates": 0}
    assert rows(db) == [
        (
            "EURUSD",
            "M1",
            datetime(2024, 1, 2, 10, tzinfo=UTC),
            Decimal("1.1"),
            Decimal("1.2"),
            Decimal("1.0"),
            Decimal("1.15"),
            42,
        )
    ]


def test_every_rotated_key_is_accepted(client, db):
    assert post(client, {"candles": minute_candles(1)}, key=API_KEY).status_code == 201
    assert post(client, {"candles": minute_candles(1, 1)}, key=OTHER_KEY).status_code == 201
    assert len(rows(db)) == 2


def test_missing_key_is_401_and_stores_nothing(client, db):
    response = post(client, {"candles": [candle()]}, key=None)
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert "X-API-KEY" in response.get_json()["detail"]
    assert rows(db) == []


def test_wrong_key_is_401_and_never_echoed(client, db):
    wrong = "w" * 40
    response = post(client, {"candles": [candle()]}, key=wrong)
    assert response.status_code == 401
    assert wrong not in response.get_data(as_text=True)
    assert API_KEY not in response.get_data(as_text=True)
    assert rows(db) == []


def test_duplicates_inside_batch_and_against_stored_rows_are_counted(client, db):
    first = post(client, {"candles": minute_candles(3)})
    assert first.get_json() == {"received": 3, "records_added": 3, "duplicates": 0}
    batch = minute_candles(5) + minute_candles(2, 4)  # 0-2 stored, 3-4 new, 4 twice, 5 new
    second = post(client, {"candles": batch})
    assert second.status_code == 201
    assert second.get_json() == {"received": 7, "records_added": 3, "duplicates": 4}
    assert [r[2].minute for r in rows(db)] == [0, 1, 2, 3, 4, 5]


def test_first_of_repeated_candles_in_a_batch_wins(client, db):
    batch = [candle(volume=1), candle(volume=2)]
    assert post(client, {"candles": batch}).get_json()["duplicates"] == 1
    assert rows(db)[0][7] == 1


def test_exact_decimals_survive_unchanged(client, db):
    body = (
        b'{"candles": [{"symbol": "BTCUSD", "timeframe": "H1", "timestamp": 1704153600,'
        b' "open": 1.10000000000000000001, "high": "42000.123456789012345678",'
        b' "low": 0.1, "close": 0.30000000000000004, "volume": 0}]}'
    )
    assert post(client, body).status_code == 201
    stored = rows(db)[0]
    assert stored[3:7] == (
        Decimal("1.10000000000000000001"),
        Decimal("42000.123456789012345678"),
        Decimal("0.1"),
        Decimal("0.30000000000000004"),
    )
    assert str(stored[5]) == "0.1"


def test_nul_terminated_body_from_string_to_char_array_is_accepted(client, db):
    body = json.dumps({"candles": [candle()]}).encode() + b"\x00"
    assert post(client, body).status_code == 201
    assert len(rows(db)) == 1


def test_malformed_json_is_422_problem(client, db):
    response = post(client, b'{"candles": [')
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["detail"].startswith("malformed JSON")
    assert rows(db) == []


def test_json_nan_literal_is_malformed(client, db):
    body = json.dumps({"candles": [candle()]}).replace("1.15", "NaN").encode()
    assert post(client, body).status_code == 422
    assert rows(db) == []


def test_wrong_content_type_is_415(client, db):
    response = post(client, json.dumps({"candles": [candle()]}).encode(), content_type="text/plain")
    assert response.status_code == 415
    assert response.mimetype == "application/problem+json"
    assert rows(db) == []


def test_body_over_max_body_bytes_is_413(app_env, db):
    from candlesvc.service.app import create_app

    app = create_app(app_env | {"MAX_BODY_BYTES": "2000"})
    try:
        response = post(app.test_client(), {"candles": minute_candles(50)})
    finally:
        app.extensions["candlesvc.pool"].close()
    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"
    assert rows(db) == []


def test_batch_over_max_batch_is_413(app_env, db):
    from candlesvc.service.app import create_app

    app = create_app(app_env | {"MAX_BATCH": "10"})
    try:
        too_many = post(app.test_client(), {"candles": minute_candles(11)})
        just_right = post(app.test_client(), {"candles": minute_candles(10)})
    finally:
        app.extensions["candlesvc.pool"].close()
    assert too_many.status_code == 413
    assert "limit is 10" in too_many.get_json()["detail"]
    assert just_right.status_code == 201
    assert len(rows(db)) == 10


def test_one_bad_candle_rejects_the_whole_batch(client, db):
    batch = minute_candles(5)
    batch[3] = batch[3] | {"high": 0.5}
    response = post(client, {"candles": batch})
    assert response.status_code == 422
    body = response.get_json()
    assert body["errors"][0]["loc"] == "candles[3]"
    assert "high" in body["errors"][0]["msg"]
    assert rows(db) == []


def test_every_problem_is_listed_with_its_location(client):
    batch = [candle(high="x"), candle(volume=-1), candle(timeframe="M7", extra=1)]
    errors = post(client, {"candles": batch}).get_json()["errors"]
    locations = {e["loc"] for e in errors}
    assert {"candles[0].high", "candles[1].volume", "candles[2].timeframe"} <= locations
    assert "candles[2].extra" in locations


def test_empty_and_shapeless_bodies_are_422(client, db):
    body: object
    for body in ({"candles": []}, {}, [], {"candles": {}}, "candles"):
        assert post(client, body).status_code == 422, body
    assert rows(db) == []


def test_failed_write_mid_way_stores_nothing_and_hides_internals(client, db):
    db.execute(
        "CREATE FUNCTION fail_on_third() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN IF NEW.volume = 2 THEN RAISE EXCEPTION 'secret internal detail'; END IF;"
        " RETURN NEW; END $$"
    )
    db.execute(
        "CREATE TRIGGER fail_on_third BEFORE INSERT ON market_data_candles"
        " FOR EACH ROW EXECUTE FUNCTION fail_on_third()"
    )
    response = post(client, {"candles": minute_candles(5)})
    assert response.status_code == 500
    assert response.mimetype == "application/problem+json"
    assert "secret" not in response.get_data(as_text=True)
    assert rows(db) == []


def test_source_tz_in_the_batch_overrides_the_default(client, db):
    batch = {"source_tz": "NY+7", "candles": [candle(timestamp="2024.01.02 10:00")]}
    assert post(client, batch).status_code == 201
    assert rows(db)[0][2] == datetime(2024, 1, 2, 8, tzinfo=UTC)


def test_unknown_source_tz_is_422_at_its_location(client, db):
    response = post(client, {"source_tz": "Mars/Olympus", "candles": [candle()]})
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["loc"] == "source_tz"
    assert rows(db) == []


def test_default_source_tz_comes_from_settings(app_env, db):
    from candlesvc.service.app import create_app

    app = create_app(app_env | {"SOURCE_TZ": "+03:00"})
    try:
        post(app.test_client(), {"candles": [candle(timestamp=1_704_189_600)]})
    finally:
        app.extensions["candlesvc.pool"].close()
    assert rows(db)[0][2] == datetime(2024, 1, 2, 7, tzinfo=UTC)


def test_response_carries_request_id(client):
    given = post(client, {"candles": [candle()]}, headers={"X-Request-ID": "ea-42"})
    assert given.headers["X-Request-ID"] == "ea-42"
    generated = post(client, {"candles": [candle()]})
    assert len(generated.headers["X-Request-ID"]) == 32
    assert generated.get_json()["duplicates"] == 1


def test_on_conflict_update_corrects_a_forming_bar(client, db):
    post(client, {"candles": [candle(close=1.15, high=1.2)]})
    url = "/api/v1/candles?on_conflict=update"
    final = {"candles": [candle(close=1.19, high=1.25, volume=99)]}
    first = client.post(url, json=final, headers={"X-API-KEY": API_KEY})
    again = client.post(url, json=final, headers={"X-API-KEY": API_KEY})
    assert first.get_json() == {
        "received": 1,
        "records_added": 0,
        "records_updated": 1,
        "duplicates": 0,
    }
    assert again.get_json()["duplicates"] == 1
    assert again.get_json()["records_updated"] == 0
    assert rows(db)[0][4:] == (Decimal("1.25"), Decimal("1.0"), Decimal("1.19"), 99)


def test_unknown_on_conflict_is_422(client, db):
    response = client.post(
        "/api/v1/candles?on_conflict=merge",
        json={"candles": [candle()]},
        headers={"X-API-KEY": API_KEY},
    )
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["loc"] == "on_conflict"
    assert rows(db) == []


def test_deeply_nested_json_is_422_not_500(client, db):
    body = b'{"candles": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    assert post(client, body).status_code == 422
    assert rows(db) == []


def test_request_id_with_a_trailing_newline_is_replaced(client):
    response = client.post(
        "/api/v1/candles",
        json={"candles": [candle()]},
        headers={"X-API-KEY": API_KEY},
        environ_overrides={"HTTP_X_REQUEST_ID": "abc\n"},
    )
    assert response.status_code == 201
    assert response.headers["X-Request-ID"] != "abc\n"
