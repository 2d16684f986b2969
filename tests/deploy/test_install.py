"""The wheel as a user installs it: non-editable, in a fresh venv, run from an unrelated folder."""

import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from candlesvc.store.localdb import free_port
from tests.conftest import API_KEY, scratch_dir
from tests.gunicornserver import wait_healthy
from tests.helpers import FIXTURES, ROOT, candle, rows

pytestmark = pytest.mark.slow
SAMPLE = FIXTURES / "EURUSD60.csv"
LIBRARY = "lightweight-charts.standalone.production.mjs"
_NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv", ".candlesvc", "__pycache__", "*.egg-info", "build", "dist", ".*_cache"
)


@pytest.fixture(scope="module")
def wheel() -> Iterator[Path]:
    """The wheel `pip wheel .` builds from a copy of the repository."""
    folder = scratch_dir()
    source = folder / "source"
    shutil.copytree(ROOT, source, ignore=_NOT_SOURCES)
    pip(sys.executable, "wheel", "--no-deps", "-w", str(folder / "dist"), str(source))
    yield next((folder / "dist").glob("candlesvc-*.whl"))
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def venv(wheel: Path) -> Iterator[Path]:
    """A fresh virtual environment with the wheel installed, not editable."""
    folder = scratch_dir()
    subprocess.run([sys.executable, "-m", "venv", str(folder / "venv")], check=True)
    python = folder / "venv" / "bin" / "python"
    pip(str(python), "install", str(wheel))
    yield folder / "venv" / "bin"
    shutil.rmtree(folder, ignore_errors=True)


def pip(python: str, *args: str) -> None:
    """Run pip quietly, showing its output only when it fails."""
    result = subprocess.run(
        [python, "-m", "pip", "-q", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd="/",
    )
    assert result.returncode == 0, result.stdout + result.stderr


def run(tool: Path, *args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run one of the venv's commands from `cwd` with `env` added."""
    return subprocess.run(
        [str(tool), *args],
        env=os.environ | env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_wheel_installs_only_the_candlesvc_package_with_its_schema(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names if not name.endswith(".dist-info/RECORD")}
    assert {n for n in top_level if not n.endswith(".dist-info")} == {"candlesvc"}
    assert "candlesvc/sql/001_market_data_candles.sql" in names
    assert "candlesvc/cli/main.py" in names
    assert "candlesvc/wsgi.py" in names
    page = ROOT / "candlesvc" / "service" / "static"
    files = {path.relative_to(ROOT).as_posix() for path in page.rglob("*") if path.is_file()}
    assert "candlesvc/service/static/vendor/lightweight-charts/NOTICE" in files
    assert files <= set(names)


def test_the_installed_commands_work_from_an_unrelated_folder(venv, database_url, db, tmp_path):
    env = {"DATABASE_URL": database_url, "MT5_API_KEY": API_KEY}
    db.execute("DROP TABLE market_data_candles")
    db.execute("DROP SCHEMA candlesvc_meta CASCADE")  # the migration ledger

    init = run(venv / "candlesvc", "db", "init", env=env, cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    assert "001_market_data_candles.sql" in init.stderr
    shutil.copy(SAMPLE, tmp_path / "EURUSD60.csv")
    imported = run(venv / "candlesvc", "import", "EURUSD60.csv", "--json", env=env, cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout)["files"][0]["added"] == 65_000
    assert len(rows(db)) == 65_000


def test_no_schema_files_is_an_error_not_up_to_date(venv, database_url, tmp_path):
    schema = next((venv.parent / "lib").glob("python3*/site-packages/candlesvc/sql"))
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    for path in schema.glob("*.sql"):
        path.rename(hidden / path.name)
    try:
        init = run(
            venv / "candlesvc", "db", "init", env={"DATABASE_URL": database_url}, cwd=tmp_path
        )
    finally:
        for path in hidden.iterdir():
            path.rename(schema / path.name)
    assert init.returncode == 3
    assert "no schema files" in init.stderr
    assert "up to date" not in init.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["candlesvc", "serve", "--port", "{port}"],
        [
            "gunicorn",
            "-c",
            "python:candlesvc.gunicorn_conf",
            "--bind",
            "127.0.0.1:{port}",
            "candlesvc.wsgi:app",
        ],
    ],
    ids=["candlesvc serve", "gunicorn"],
)
def test_the_installed_service_stores_a_batch(venv, database_url, db, tmp_path, command):
    port = free_port()
    tool, *args = (part.format(port=port) for part in command)
    env = os.environ | {
        "DATABASE_URL": database_url,
        "MT5_API_KEY": API_KEY,
        "WEB_CONCURRENCY": "1",
    }
    server = subprocess.Popen(
        [str(venv / tool), *args],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_healthy(port)
        body = json.dumps({"candles": [candle()]}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/candles",
            body,
            method="POST",
            headers={"Content-Type": "application/json", "X-API-KEY": API_KEY},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 201
            assert json.load(answer)["records_added"] == 1
        for path in ("/", f"/static/vendor/lightweight-charts/{LIBRARY}"):  # the chart page
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as answer:
                assert answer.status == 200
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    assert len(rows(db)) == 1


def test_a_missing_program_fails_in_one_line_naming_its_package():
    folder = scratch_dir()  # the unprivileged user running PostgreSQL reads this PATH too
    path = str(without_program("redis-server", folder / "bin"))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-k",
            "shared_across",
            str(ROOT / "tests" / "service" / "test_ratelimit.py"),
        ],
        cwd=ROOT,
        env=os.environ | {"PATH": path},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    shutil.rmtree(folder, ignore_errors=True)
    assert result.returncode == 1, result.stdout
    assert "redis-server is not installed: apt-get install redis-server" in result.stdout, (
        result.stdout
    )
    assert "Traceback" not in result.stdout


def without_program(program: str, folder: Path) -> Path:
    """A folder holding links to every program on PATH but `program`: a PATH that lacks it."""
    folder.mkdir()
    for directory in [Path(sys.executable).parent, *map(Path, os.environ["PATH"].split(":"))]:
        for tool in directory.glob("*") if directory.is_dir() else []:
            link = folder / tool.name
            if tool.name != program and not link.exists():
                link.symlink_to(tool)
    return folder
