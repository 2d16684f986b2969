from tests.helpers import candle, post, rows


def test_valid_batch_is_stored(client, db):
    response = post(client, {"candles": [candle()]})
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json() == {"received": 1, "records_added": 1, "duplicates": 0}
    assert len(rows(db)) == 1
