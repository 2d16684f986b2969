"""The Dockerfile as users build it: a real image built and run by podman on a stand-in base."""

import datetime
import hashlib
import json
import os
import platform
import secrets
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from candlesvc.store.localdb import free_port
from tests.conftest import API_KEY, db_url, scratch_dir
from tests.deploy.test_slow_clients import (
    BODY_SECONDS,
    HEAD_SECONDS,
    assert_misbehaving_sockets_stall_nothing,
)
from tests.helpers import ROOT, Scraped, minute_candles
from tests.programs import require

pytestmark = pytest.mark.slow
CACHE = Path(os.environ.get("CANDLESVC_TEST_CACHE", "/var/cache/candlesvc-tests"))
BASE_PACKAGES = "python3,python3-venv,python3-pip"
RUN = secrets.token_hex(4)  # names this run's images and containers, so runs never collide
METRICS_TOKEN = secrets.token_urlsafe(32)
# crun refuses this kind of kernel's cgroup layout; root's default open-files limit cannot be set.
CONTAINERS_CONF = '[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\n'
BUILD_MOUNTS = ("/etc/ssl/certs", "/etc/pip.conf", "/etc/xdg/pip")  # pip reaches PyPI as here


class Podman:
    """The podman command with this test's own configuration."""

    def __init__(self, conf: Path) -> None:
        self.program = require("podman", "podman")
        require("runc", "runc")
        conf.write_text(CONTAINERS_CONF)
        self.env = os.environ | {"CONTAINERS_CONF": str(conf)}

    def __call__(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run `podman args`; fail with its output unless it succeeds."""
        result = self.run(*args, timeout=timeout)
        assert result.returncode == 0, f"podman {args[0]} failed:\n{result.stderr[-3000:]}"
        return result

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run `podman args` and return whatever happened."""
        return subprocess.run(
            [self.program, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@pytest.fixture(scope="module")
def podman() -> Iterator[Podman]:
    """Podman as root, configured for this machine by the test itself."""
    if os.geteuid() != 0:
        pytest.fail("the image test runs podman and debootstrap as root", pytrace=False)
    folder = scratch_dir()
    yield Podman(folder / "containers.conf")
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def base_image(podman: Podman) -> Iterator[str]:
    """The stand-in for python:3.11-slim: Debian with its python3, imported from the cache."""
    tag = f"localhost/candlesvc-test-base:{RUN}"
    podman("import", str(cached_base_tarball()), tag, timeout=600)
    try:
        yield tag
    finally:
        podman.run("rmi", "--force", "--ignore", tag)


def cached_base_tarball() -> Path:
    """Today's debootstrapped root as a tar in CACHE, built only if missing; older ones go."""
    suite, mirror = debian_suite_and_mirror()
    key = hashlib.sha256(f"{suite} {mirror} {BASE_PACKAGES}".encode()).hexdigest()[:8]
    tarball = CACHE / f"base-{suite}-{datetime.date.today()}-{key}.tar"
    if tarball.exists():
        return tarball
    debootstrap = require("debootstrap", "debootstrap", "/usr/sbin")
    CACHE.mkdir(parents=True, exist_ok=True)
    rootfs, partial = CACHE / f"rootfs-{RUN}", tarball.with_suffix(f".{RUN}")
    try:
        result = subprocess.run(
            [
                debootstrap,
                "--variant=minbase",
                f"--include={BASE_PACKAGES}",
                suite,
                str(rootfs),
                mirror,
            ],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert result.returncode == 0, f"debootstrap failed:\n{result.stdout[-3000:]}"
        for leftovers in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for path in (rootfs / leftovers).glob("*_*"):
                path.unlink()
        subprocess.run(
            ["tar", "-C", str(rootfs), "-cf", str(partial), "."], timeout=600, check=True
        )
        partial.rename(tarball)
    finally:
        unmount_inside(rootfs)
        shutil.rmtree(rootfs, ignore_errors=True)
        partial.unlink(missing_ok=True)
    for old in CACHE.glob("base-*.tar"):
        if old != tarball:
            old.unlink()
    return tarball


def unmount_inside(folder: Path) -> None:
    """Unmount what a debootstrap stopped midway left mounted in `folder` (its proc and sys)."""
    mounts = subprocess.run(
        ["findmnt", "--raw", "--noheadings", "--output=TARGET"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    for target in sorted(mounts.stdout.split(), reverse=True):
        if target.startswith(f"{folder}/"):
            subprocess.run(["umount", "--lazy", target], timeout=60, check=True)


def debian_suite_and_mirror() -> tuple[str, str]:
    """This machine's Debian release and the mirror apt fetches it from."""
    suite = platform.freedesktop_os_release().get("VERSION_CODENAME", "")
    targets = subprocess.run(
        ["apt-get", "indextargets", "--format", "$(RELEASE) $(REPO_URI)"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split("\n")
    mirrors = [line.split()[1] for line in targets if line.startswith(f"{suite} ")]
    assert mirrors, f"no apt source for this machine's Debian release {suite!r}"
    return suite, mirrors[0]


@pytest.fixture(scope="module")
def image(podman: Podman, base_image: str) -> Iterator[str]:
    """The repository's Dockerfile built on the stand-in base, with the host's network and pip."""
    tag = f"localhost/candlesvc-test:{RUN}"
    mounts = [f"--volume={path}:{path}:ro" for path in BUILD_MOUNTS if Path(path).exists()]
    try:
        podman(
            "build",
            "--format=docker",
            "--network=host",
            "--pull=never",
            "--layers=false",
            "--force-rm",
            *mounts,
            f"--build-arg=BASE_IMAGE={base_image}",
            f"--tag={tag}",
            str(ROOT),
            timeout=900,
        )
        yield tag
    finally:
        podman.run("rmi", "--force", "--ignore", tag)


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    """An empty database of its own on the test PostgreSQL."""
    name = f"image_{RUN}"
    with psycopg.connect(db_url("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield db_url(name)
    with psycopg.connect(db_url("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def server(podman: Podman, image: str, database: str) -> Iterator[tuple[str, int]]:
    """The image's schema applied by `candlesvc db init`, then its gunicorn on a free port."""
    name, port = f"candlesvc-test-{RUN}", free_port()
    env = ["--env=MT5_API_KEY=" + API_KEY, "--env=DATABASE_URL=" + database]
    try:
        init = podman(
            "run",
            "--rm",
            f"--name={name}-init",
            "--network=host",
            *env,
            image,
            "candlesvc",
            "db",
            "init",
        )
        assert "applied: 001_market_data_candles.sql" in init.stderr, init.stderr
        podman(
            "run",
            "--detach",
            f"--name={name}",
            "--network=host",
            *env,
            f"--env=BIND=127.0.0.1:{port}",
            f"--env=METRICS_TOKEN={METRICS_TOKEN}",
            "--env=WEB_CONCURRENCY=2",
            f"--env=GUNICORN_KEEPALIVE={HEAD_SECONDS}",
            f"--env=BODY_TIMEOUT_MS={BODY_SECONDS * 1000}",
            image,
        )
        wait_serving(podman, name, port)
        yield name, port
    finally:
        podman.run("rm", "--force", "--ignore", "--time=0", name, f"{name}-init")


def wait_serving(podman: Podman, name: str, port: int, seconds: float = 60) -> None:
    """Poll /health until it answers; fail with the container's log if it stops or never does."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if podman("inspect", "--format={{.State.Running}}", name).stdout.strip() != "true":
            break
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).close()
            return
        except OSError:
            time.sleep(0.2)
    log = podman.run("logs", name).stderr[-3000:]
    raise AssertionError(f"{name} does not serve /health:\n{log}")


def call(port: int, path: str, body: Any = None) -> tuple[int, Any]:
    """Send a request with the API key; return the status and the JSON answer."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "X-API-KEY": API_KEY},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.status, json.load(answer)


def test_the_container_stores_a_batch_and_reads_it_back(server):
    _, port = server
    status, stored = call(port, "/api/v1/candles", {"candles": minute_candles(3)})
    assert (status, stored["records_added"]) == (201, 3)
    status, page = call(port, "/api/v1/candles?symbol=EURUSD&timeframe=M1")
    assert status == 200
    assert [(c["timestamp"], c["volume"]) for c in page["candles"]] == [
        ("2024-01-02T00:00:00Z", 0),
        ("2024-01-02T00:01:00Z", 1),
        ("2024-01-02T00:02:00Z", 2),
    ]


def test_metrics_are_summed_over_the_containers_workers(podman, server):
    name, port = server
    before = scrape(port)("candlesvc_candles_added_total")
    for n in range(10):  # each on a connection of its own, so that both workers take some
        body = {"candles": minute_candles(1, start=n, symbol="METRICS")}
        assert call(port, "/api/v1/candles", body)[0] == 201
    assert scrape(port)("candlesvc_candles_added_total") == before + 10
    listed = "import glob; print(*sorted(glob.glob('/tmp/candlesvc-metrics-*/counter_*')))"
    files = podman("exec", name, "python3", "-c", listed).stdout.split()
    master = int(podman("inspect", "--format={{.State.Pid}}", name).stdout)
    workers = len(Path(f"/proc/{master}/task/{master}/children").read_text().split())
    assert len(files) == workers == 2  # one folder, a file per worker


def scrape(port: int) -> Scraped:
    """GET /metrics with the bearer token."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return Scraped(answer.read().decode())


def test_gunicorn_runs_as_the_images_non_root_user(podman, server):
    name, _ = server
    uid = int(podman("exec", name, "id", "-u").stdout)
    master = int(podman("inspect", "--format={{.State.Pid}}", name).stdout)
    workers = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    processes = [master, *map(int, workers)]
    assert uid != 0
    assert len(processes) == 3
    for pid in processes:
        assert b"gunicorn" in Path(f"/proc/{pid}/cmdline").read_bytes()
        assert process_uids(pid) == [uid] * 4  # real, effective, saved and filesystem


def process_uids(pid: int) -> list[int]:
    """The uids of a host process, as the kernel reports them."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return [int(uid) for uid in line.split()[1:]]
    raise AssertionError(f"no Uid line for process {pid}")


def test_the_healthcheck_follows_bind(podman, image, server):
    name, port = server
    assert port != 8000
    assert podman.run("healthcheck", "run", name).returncode == 0
    status = podman("inspect", "--format={{.State.Health.Status}}", name).stdout.strip()
    assert status == "healthy"
    test = podman("image", "inspect", "--format={{json .Config.Healthcheck.Test}}", image)
    kind, *command = json.loads(test.stdout)
    elsewhere = podman.run("exec", f"--env=BIND=127.0.0.1:{free_port()}", name, *command)
    assert (kind, elsewhere.returncode) == ("CMD", 1), elsewhere.stderr


def test_the_package_is_installed_in_the_venv_not_editable(podman, server):
    name, _ = server
    where = "import candlesvc.sql as s, sysconfig as c; print(*s.__path__, c.get_path('purelib'))"
    schema, site_packages = podman("exec", name, "python3", "-c", where).stdout.split()
    assert site_packages.startswith("/opt/venv/")
    assert schema == f"{site_packages}/candlesvc/sql"


def test_idle_and_slow_sockets_stall_nothing_in_the_container(server):
    assert_misbehaving_sockets_stall_nothing(server[1])
