"""`candlesvc serve`: run the service under gunicorn, with a local database when none is set."""

import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from candlesvc.service.keys import generate_key
from candlesvc.service.settings import SettingsError, load_settings
from candlesvc.store.localdb import LocalCluster, LocalDbError
from candlesvc.store.private import UnsafePathError, create_private, read_private
from candlesvc.store.schema import apply_migrations

from .common import Exit, fail

DEFAULT_DATA_DIR = ".candlesvc"
KEY_FILE = "api-key"


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Gunicorn worker processes (default: two per usable CPU).", show_default=False
        ),
    ] = None,
    data_dir: Annotated[
        Path, typer.Option(envvar="CANDLESVC_DATA_DIR", help="Local database folder.")
    ] = Path(DEFAULT_DATA_DIR),
) -> None:
    """Run the service; without DATABASE_URL, start a private PostgreSQL under --data-dir.

    Example: candlesvc serve --port 8000
    """
    env = dict(os.environ)
    address = f"{host}:{port}"
    cluster = None if env.get("DATABASE_URL") else _use_local_database(env, data_dir, address)
    try:
        _check_settings(env)
        sys.exit(_gunicorn(env, address, workers))
    finally:
        if cluster is not None:
            cluster.stop()


def _use_local_database(env: dict[str, str], data_dir: Path, address: str) -> LocalCluster:
    """Point env at the private cluster under data_dir, and at its kept key unless one is set."""
    cluster = _local_cluster(data_dir)
    key_file = None if env.get("MT5_API_KEY") else cluster.root / KEY_FILE
    if key_file is not None:
        env["MT5_API_KEY"], new = _local_key(key_file)
    env["DATABASE_URL"] = _local_database(cluster)
    if key_file is not None:
        _announce(key_file, env["MT5_API_KEY"] if new else None, address)
    return cluster


def _check_settings(env: dict[str, str]) -> None:
    """Refuse to start with settings the service would refuse."""
    try:
        load_settings(env)
    except SettingsError as error:
        fail(f"refusing to start: {error}", code=Exit.USAGE)


def _local_cluster(data_dir: Path) -> LocalCluster:
    """The private cluster under data_dir, its folder created private or checked."""
    try:
        cluster = LocalCluster(data_dir)
        cluster.prepare()
    except LocalDbError as error:
        fail(str(error), code=Exit.DATABASE)
    except UnsafePathError as error:
        fail(f"refusing to start: {error}", code=Exit.USAGE)
    return cluster


def _local_database(cluster: LocalCluster) -> str:
    """Start (creating on first use) the private cluster and bring its schema up to date."""
    try:
        info = cluster.ensure_running()
        url = cluster.ensure_database(info, "candlesvc")
        apply_migrations(url)
    except LocalDbError as error:
        fail(str(error), code=Exit.DATABASE)
    except UnsafePathError as error:  # cluster.json
        fail(f"refusing to start: {error}", code=Exit.USAGE)
    _say(f"local PostgreSQL on 127.0.0.1:{info.port}, data in {cluster.pgdata}")
    return url


def _local_key(key_file: Path) -> tuple[str, bool]:
    """The API key kept in key_file, and whether it was generated just now."""
    try:
        create_private(key_file, generate_key() + "\n")
        new = True
    except FileExistsError:
        new = False
    try:
        return read_private(key_file).strip(), new
    except UnsafePathError as error:
        fail(f"refusing to start: {error}", code=Exit.USAGE)


def _announce(key_file: Path, new_key: str | None, address: str) -> None:
    """Say where the local key is kept, showing the key itself only when it is new."""
    if new_key:
        _say(f"new API key, kept in {key_file}: {new_key}")
    else:
        _say(f"API key: kept in {key_file}")
    _say("try it:")
    print(
        f"curl -i -X POST http://{address}/api/v1/candles -H 'Content-Type: application/json' "
        f'-H "X-API-KEY: $(cat {shlex.quote(str(key_file))})" '
        '-d \'{"candles":[{"symbol":"EURUSD","timeframe":"M1",'
        '"timestamp":"2024-01-02T10:00:00Z","open":1.1,"high":1.2,'
        '"low":1.0,"close":1.15,"volume":42}]}\'',
        flush=True,
    )


def _say(line: str) -> None:
    """One line for the developer on stderr, printed as it is."""
    print(line, file=sys.stderr, flush=True)


def _gunicorn(env: dict[str, str], bind: str, workers: int | None) -> int:
    """Run gunicorn until it exits, passing SIGINT and SIGTERM on to it."""
    count = ["--workers", str(workers)] if workers else []
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        "python:candlesvc.gunicorn_conf",
        "--bind",
        bind,
        *count,
        "candlesvc.wsgi:app",
    ]
    server = subprocess.Popen(command, env=env)

    def forward(signum: int, _frame: object) -> None:
        server.send_signal(signum)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, forward)
    return server.wait()
