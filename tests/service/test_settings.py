"""Settings and keys: the service refuses to start unsafely, and says why."""

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from candlesvc.cli.main import app as cli
from candlesvc.service.app import create_app
from candlesvc.service.keys import MIN_KEY_LENGTH, fingerprint, key_matches
from candlesvc.service.settings import SettingsError, load_settings
from tests.helpers import ROOT

URL = "postgresql://u:p@127.0.0.1:1/db"
KEY = "k" * 32


def test_refuses_to_start_without_a_key():
    with pytest.raises(SettingsError, match="MT5_API_KEY is not set"):
        create_app({"DATABASE_URL": URL, "MT5_API_KEY": ""})


def test_refuses_a_short_key_and_names_which_one():
    with pytest.raises(SettingsError, match="key #2 has 31 characters; at least 32"):
        load_settings({"DATABASE_URL": URL, "MT5_API_KEY": f"{KEY},{'s' * 31}"})


def test_refuses_to_start_without_a_database_url():
    with pytest.raises(SettingsError, match="DATABASE_URL"):
        load_settings({"MT5_API_KEY": KEY})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MAX_BATCH", "lots"),
        ("MAX_BATCH", "0"),
        ("SOURCE_TZ", "Mars/Base"),
        ("PREPARED_STATEMENTS", "maybe"),
    ],
)
def test_malformed_settings_are_refused(name, value):
    with pytest.raises(SettingsError, match=name):
        load_settings({"DATABASE_URL": URL, "MT5_API_KEY": KEY, name: value})


def test_settings_repr_hides_the_keys_and_the_metrics_token():
    token = "m" * 32
    settings = load_settings({"DATABASE_URL": URL, "MT5_API_KEY": KEY, "METRICS_TOKEN": token})
    assert settings.metrics_token == token
    assert KEY not in repr(settings)
    assert token not in repr(settings)


@pytest.mark.parametrize(
    ("token", "why"),
    [("m" * 31, "METRICS_TOKEN has 31 characters; at least 32"), (KEY, "one of the API keys")],
)
def test_refuses_a_short_metrics_token_or_an_api_key_as_one(token, why):
    with pytest.raises(SettingsError, match=why):
        load_settings({"DATABASE_URL": URL, "MT5_API_KEY": KEY, "METRICS_TOKEN": token})


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://candles:s3cr%40t@db.example.com:5432/candles",
        "postgresql://candles@db.example.com/candles?password=s3cr%40t&sslmode=require",
        "host=db.example.com user=candles password=s3cr@t dbname=candles",
        "postgresql://candles:s3cr%40t@db example.com/candles",
    ],
    ids=["userinfo", "query", "keywords", "unparsable"],
)
def test_settings_repr_hides_the_database_password(url):
    shown = repr(load_settings({"DATABASE_URL": url, "MT5_API_KEY": KEY}))
    assert "s3cr" not in shown
    assert "database_url=" in shown


def test_settings_repr_still_says_which_database():
    shown = repr(load_settings({"DATABASE_URL": URL, "MT5_API_KEY": KEY}))
    assert "host=127.0.0.1" in shown
    assert "dbname=db" in shown
    assert "password=***" in shown


def test_gunicorn_entry_point_refuses_in_one_line():
    result = subprocess.run(
        [sys.executable, "-c", "import wsgi"],
        cwd=ROOT,
        env={"DATABASE_URL": URL, "MT5_API_KEY": "short", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 3
    assert result.stderr.strip().startswith("candlesvc: refusing to start: MT5_API_KEY")
    assert "short" not in result.stderr
    assert "Traceback" not in result.stderr


def test_keygen_prints_a_strong_unique_key():
    runner = CliRunner()
    first, second = (runner.invoke(cli, ["keygen"]).output.strip() for _ in range(2))
    assert len(first) >= MIN_KEY_LENGTH
    assert first != second
    load_settings({"DATABASE_URL": URL, "MT5_API_KEY": first})


def test_key_matching_is_exact():
    keys = (KEY, "r" * 40)
    assert key_matches(KEY, keys)
    assert key_matches("r" * 40, keys)
    assert not key_matches(KEY[:-1], keys)
    assert not key_matches(KEY + "x", keys)
    assert not key_matches("", keys)
    assert not key_matches(None, keys)


def test_fingerprint_is_short_and_does_not_contain_the_key():
    assert len(fingerprint(KEY)) == 8
    assert fingerprint(KEY) not in KEY
    assert fingerprint(KEY) != fingerprint("r" * 40)
