"""`candlesvc series` and `candlesvc gaps`, right after an import, as a user checks a backfill."""

import json

from typer.testing import CliRunner

from candlesvc.cli.main import app
from tests.cli.test_import import minute_file


def run(*args: str, url: str):
    """Invoke the command line with DATABASE_URL set."""
    return CliRunner().invoke(app, list(args), env={"DATABASE_URL": url})


def test_series_and_gaps_check_a_backfill(tmp_path, database_url):
    rows = minute_file(
        tmp_path / "EURUSD_M1_202301020000_202301020100.csv", 60, bad={31: ""}
    )  # a blank line: minute 30 is missing
    assert run("import", str(rows), url=database_url).exit_code == 0
    listed = run("series", "--json", url=database_url)
    assert listed.exit_code == 0, listed.output
    [entry] = json.loads(listed.output)["series"]
    assert (entry["symbol"], entry["timeframe"], entry["bars"]) == ("EURUSD", "M1", 59)
    assert (entry["first"], entry["last"]) == ("2023-01-02T00:00:00Z", "2023-01-02T00:59:00Z")
    table = run("series", "--symbol", "EURUSD", url=database_url)
    assert "EURUSD" in table.output
    assert "59" in table.output
    gaps = run("gaps", "EURUSD", "m1", "--json", url=database_url)
    assert gaps.exit_code == 0, gaps.output
    [gap] = json.loads(gaps.output)["gaps"]
    assert (gap["first_missing"], gap["missing"]) == ("2023-01-02T00:30:00Z", 1)
    readable = run("gaps", "EURUSD", "M1", url=database_url)
    assert "1 gap(s), 1 bar(s) missing" in readable.output


def test_bad_options_and_an_unreachable_database_are_one_line(database_url):
    assert run("gaps", "EURUSD", "M7", url=database_url).exit_code == 2
    assert run("gaps", "EURUSD", "M1", "--tz", "Mars/Base", url=database_url).exit_code == 2
    assert run("gaps", "EURUSD", "M1", "--from", "yesterday", url=database_url).exit_code == 2
    down = run("series", url="postgresql://x:y@127.0.0.1:1/none")
    assert down.exit_code == 3
    assert "Traceback" not in down.output
