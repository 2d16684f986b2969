"""`candlesvc serve` with no DATABASE_URL: a private cluster, a kept key, reused on restart."""

import json
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from candlesvc.store.localdb import free_port
from tests.conftest import scratch_dir
from tests.helpers import Scraped, candle

pytestmark = pytest.mark.slow  # the real command with its own clusters

CANDLESVC = Path(sys.executable).parent / "candlesvc"


def serve_command(data_dir: Path, port: int, user: str | None) -> list[str]:
    """`candlesvc serve` on a local database under data_dir, run as `user` if given."""
    prefix = ["runuser", "-u", user, "--"] if user else []
    return [
        *prefix,
        str(CANDLESVC),
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--workers",
        "1",
    ]


def local_env(**extra: str) -> dict[str, str]:
    """The environment without a database or key of the developer's."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "MT5_API_KEY")}
    return env | extra


def start(
    data_dir: Path, port: int, user: str | None, env: dict[str, str] | None = None, umask: int = -1
) -> tuple[subprocess.Popen[str], str]:
    """Start the service; return it with what it printed before it answered."""
    output = data_dir.parent / f"serve-{port}.out"
    with output.open("w") as sink:
        server = subprocess.Popen(
            serve_command(data_dir, port, user),
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env or local_env(),
            text=True,
            cwd="/",
            umask=umask,
        )
    wait_for_health(port)
    return server, output.read_text()


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
    assert server.wait(timeout=60) == 0


def run_twice(data_dir: Path, user: str | None = None) -> None:
    """Start, store a bar, stop; start again with the same key: the bar is a duplicate."""
    port = free_port()
    key_file = data_dir / "api-key"
    server, said = start(data_dir, port, user)
    try:
        key = key_file.read_text().strip()
        assert f"new API key, kept in {key_file}: {key}" in said
        assert post_candle(port, key)["records_added"] == 1
    finally:
        stop(server)
    assert not (data_dir / "pgdata" / "postmaster.pid").exists()
    server, said = start(data_dir, port, user)
    try:
        assert key_file.read_text().strip() == key
        assert key not in said
        assert f"API key: kept in {key_file}" in said
        assert post_candle(port, key) == {"received": 1, "records_added": 0, "duplicates": 1}
    finally:
        stop(server)


def test_serve_creates_then_reuses_its_local_database():
    root = scratch_dir()
    try:
        run_twice(root / "data")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_serve_keeps_its_workers_metrics_in_a_folder_of_its_own():
    root = scratch_dir()
    token = "metrics-token-" + "m" * 32
    tmp = root / "tmp"
    tmp.mkdir()
    port = free_port()
    server, _ = start(root / "data", port, None, local_env(METRICS_TOKEN=token, TMPDIR=str(tmp)))
    try:
        post_candle(port, (root / "data" / "api-key").read_text().strip())
        (folder,) = tmp.iterdir()
        assert sorted(path.name.split("_")[0] for path in folder.iterdir()) == [
            "counter",
            "gauge",
            "histogram",
        ]
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert Scraped(answer.read().decode())("candlesvc_candles_added_total") == 1
    finally:
        stop(server)
        shutil.rmtree(root, ignore_errors=True)
    assert not folder.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="this run is already unprivileged")
def test_serve_works_for_an_unprivileged_user():
    nobody = pwd.getpwnam("nobody")
    probe = subprocess.run(
        ["runuser", "-u", "nobody", "--", str(CANDLESVC), "--help"],
        capture_output=True,
        check=False,
    )
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


# Loaded by every Python process of `candlesvc serve` (as sitecustomize): before each file
# operation, report any entry of the data folder whose mode lets other users in, so that a
# file created wide and narrowed a moment later is caught in between.
WATCH = """
import os, stat, sys
ROOT = os.environ.pop("CANDLESVC_WATCH", None)
EVENTS = {"open", "os.chmod", "os.chown", "os.mkdir", "os.rename", "os.replace", "os.remove",
          "os.truncate", "subprocess.Popen"}
reported = set()

def report(line):
    if line not in reported:
        reported.add(line)
        print(line, file=sys.stderr, flush=True)

def mode(path):
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return None

def watch(event, args):
    if event not in EVENTS or mode(ROOT) is None:
        return
    entries = [(".", mode(ROOT), 0o067)]  # the folder may let the cluster's user pass
    entries += [(name, mode(os.path.join(ROOT, name)), 0o077) for name in os.listdir(ROOT)]
    for name, found, forbidden in entries:
        if found is not None:
            report(f"watch: {'wide' if found & forbidden else 'seen'} {name} {found:o}")

if ROOT:
    old = os.umask(0)
    os.umask(old)
    report(f"watch: umask {old:o}")
    sys.addaudithook(watch)
"""


def test_serve_never_lets_other_users_see_its_files_even_under_umask_0():
    root = scratch_dir()
    (root / "hook").mkdir(mode=0o755)
    (root / "hook" / "sitecustomize.py").write_text(WATCH)
    data_dir = root / "data"
    env = local_env(PYTHONPATH=str(root / "hook"), CANDLESVC_WATCH=str(data_dir))
    try:
        server, said = start(data_dir, free_port(), None, env, umask=0)
        stop(server)
        watched = [line for line in said.splitlines() if line.startswith("watch:")]
        assert "watch: umask 0" in watched
        assert [line for line in watched if " wide " in line] == []
        for name in ("api-key", "cluster.json", ".pw-", "pgdata"):
            assert any(line.startswith(f"watch: seen {name}") for line in watched), name
        expected = 0o710 if os.geteuid() == 0 else 0o700
        assert stat.S_IMODE(data_dir.stat().st_mode) == expected
        for name in ("api-key", "cluster.json"):
            assert stat.S_IMODE((data_dir / name).stat().st_mode) == 0o600
    finally:
        shutil.rmtree(root, ignore_errors=True)


def refusal(data_dir: Path) -> str:
    """What `candlesvc serve` says when it refuses to start (it must not start)."""
    port = free_port()
    server = subprocess.Popen(
        serve_command(data_dir, port, None),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=local_env(),
    )
    try:
        out, err = server.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        server.send_signal(signal.SIGTERM)  # it started: let it stop its cluster
        server.communicate(timeout=60)
        pytest.fail("serve started instead of refusing")
    assert server.returncode == 2, err
    assert not (data_dir / "pgdata").exists()
    assert out == ""
    return err


UNSAFE = [
    ("folder", 0o711, "nobody", "belongs to nobody"),
    ("folder", 0o777, None, "mode 777"),
    ("folder", 0o775, None, "mode 775"),
    ("key", 0o600, "nobody", "belongs to nobody"),
    ("key", 0o602, None, "mode 602"),
    ("key", 0o640, None, "mode 640"),
]


@pytest.mark.skipif(os.geteuid() != 0, reason="handing files to another user needs root")
@pytest.mark.parametrize(("spoiled", "mode", "owner", "why"), UNSAFE)
def test_serve_refuses_files_other_users_own_or_may_change(spoiled, mode, owner, why):
    root = scratch_dir()
    data_dir = root / "data"
    data_dir.mkdir()
    data_dir.chmod(0o711)  # safe, and the cluster's user could pass: nothing else stops serve
    path = data_dir if spoiled == "folder" else data_dir / "api-key"
    if spoiled == "key":
        path.write_text("k" * 43 + "\n")
    path.chmod(mode)
    if owner:
        os.chown(path, pwd.getpwnam(owner).pw_uid, -1)
    try:
        said = refusal(data_dir)
        assert said.startswith(f"error: refusing to start: {path} ")
        assert why in said
        assert len(said.strip().splitlines()) == 1
    finally:
        shutil.rmtree(root, ignore_errors=True)
