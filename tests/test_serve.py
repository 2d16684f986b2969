"""`candlesvc serve` with no DATABASE_URL: a private cluster, a kept key, reused on restart."""

import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from candlesvc.localdb import free_port
from tests.conftest import scratch_dir
from tests.helpers import candle

CANDLESVC = Path(sys.executable).parent / "candlesvc"
CURL_KEY = re.compile(r"X-API-KEY: ([A-Za-z0-9_-]+)'")


def start(data_dir: Path, port: int, user: str | None) -> tuple[subprocess.Popen[str], str]:
    """Start the service and return it with the key from its curl example."""
    prefix = ["runuser", "-u", user, "--"] if user else []
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "MT5_API_KEY")}
    server = subprocess.Popen(
        [*prefix, str(CANDLESVC), "serve", "--port", str(port), "--data-dir", str(data_dir),
         "--workers", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd="/",
    )  # fmt: skip
    assert server.stdout is not None
    line = server.stdout.readline()
    match = CURL_KEY.search(line)
    assert match, f"no curl example in {line!r}"
    wait_for_health(port)
    return server, match.group(1)


def wait_for_health(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("service did not become healthy")


def post_candle(port: int, key: str) -> dict[str, int]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/candles",
        data=json.dumps({"candles": [candle()]}).encode(),
        headers={"Content-Type": "application/json", "X-API-KEY": key},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        result: dict[str, int] = json.load(response)
        return result


def stop(server: subprocess.Popen[str]) -> None:
    server.send_signal(signal.SIGTERM)
    try:
        assert server.wait(timeout=60) == 0
    finally:
        if server.stdout:
            server.stdout.close()


def run_twice(data_dir: Path, user: str | None = None) -> None:
    port = free_port()
    server, key = start(data_dir, port, user)
    try:
        assert post_candle(port, key)["records_added"] == 1
    finally:
        stop(server)
    assert not (data_dir / "pgdata" / "postmaster.pid").exists()
    server, same_key = start(data_dir, port, user)
    try:
        assert same_key == key
        assert post_candle(port, key) == {"received": 1, "records_added": 0, "duplicates": 1}
    finally:
        stop(server)


def test_serve_creates_then_reuses_its_local_database():
    root = scratch_dir()
    try:
        run_twice(root / "data")
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="this run is already unprivileged")
def test_serve_works_for_an_unprivileged_user():
    nobody = pwd.getpwnam("nobody")
    probe = subprocess.run(["runuser", "-u", "nobody", "--", str(CANDLESVC), "--help"],
                           capture_output=True, check=False)  # fmt: skip
    if probe.returncode != 0:
        pytest.skip("this Python or checkout cannot be run by other users")
    root = scratch_dir()
    data_dir = root / "data"
    data_dir.mkdir()
    os.chown(data_dir, nobody.pw_uid, nobody.pw_gid)
    try:
        run_twice(data_dir, user="nobody")
    finally:
        shutil.rmtree(root, ignore_errors=True)
