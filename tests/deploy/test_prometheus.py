"""A real Prometheus scrapes /metrics with the bearer token, as docs/deployment.md says."""

import json
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from candlesvc.store.localdb import free_port
from tests.deploy.test_metrics_gunicorn import TOKEN, post
from tests.gunicornserver import Served, gunicorn
from tests.helpers import minute_candles
from tests.programs import require

pytestmark = pytest.mark.slow  # gunicorn and Prometheus processes

CONFIG = """
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: candlesvc
    authorization:
      type: Bearer
      credentials_file: {token_file}
    static_configs:
      - targets: ["127.0.0.1:{port}"]
  - job_name: wrong-token
    authorization:
      type: Bearer
      credentials: {wrong}
    static_configs:
      - targets: ["127.0.0.1:{port}"]
"""


@pytest.fixture
def served(app_env: dict[str, str], tmp_path: Path) -> Iterator[Served]:
    with gunicorn(app_env | {"METRICS_TOKEN": TOKEN}, tmp_path / "gunicorn.log", 3) as server:
        yield server


@pytest.fixture
def prometheus(served: Served, tmp_path: Path) -> Iterator[int]:
    """Prometheus scraping the service every second; the port of its HTTP API."""
    program = require("prometheus", "prometheus")
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    config = tmp_path / "prometheus.yml"
    config.write_text(CONFIG.format(token_file=token_file, port=served.port, wrong="w" * 40))
    port = free_port()
    with (tmp_path / "prometheus.log").open("wb") as log:
        process = subprocess.Popen(
            [
                program,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=log,
        )
    try:
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def query(port: int, promql: str) -> list[Any]:
    """The result of an instant query."""
    url = f"http://127.0.0.1:{port}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    with urllib.request.urlopen(url, timeout=5) as answer:
        result: list[Any] = json.load(answer)["data"]["result"]
        return result


def eventually(port: int, promql: str, seconds: float = 30) -> list[Any]:
    """The query's result once it is not empty."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if found := query(port, promql):
                return found
        except OSError:
            pass  # Prometheus is starting
        time.sleep(0.5)
    raise AssertionError(f"no result for {promql}")


def test_prometheus_scrapes_the_totals_with_the_token_and_nothing_without(served, prometheus):
    for n in range(6):
        assert post(served.port, {"candles": minute_candles(5, start=5 * n)}) == 201
    (added,) = eventually(prometheus, 'candlesvc_candles_added_total{job="candlesvc"} == 30')
    assert added["value"][1] == "30"
    (age,) = eventually(prometheus, 'candlesvc_feed_age_seconds{symbol="EURUSD"}')
    assert age["metric"]["timeframe"] == "M1"
    (refused,) = eventually(prometheus, 'up{job="wrong-token"} == 0')
    assert refused["metric"]["instance"] == f"127.0.0.1:{served.port}"
    assert query(prometheus, '{job="wrong-token", __name__=~"candlesvc_.*"}') == []
    with urllib.request.urlopen(f"http://127.0.0.1:{prometheus}/api/v1/targets") as answer:
        targets = json.load(answer)["data"]["activeTargets"]
    errors = {t["labels"]["job"]: t["lastError"] for t in targets}
    assert errors["candlesvc"] == ""
    assert "401" in errors["wrong-token"]
