"""`candlesvc serve`: run the service under gunicorn, with a local database when none is set."""

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from candlesvc.db import apply_migrations
from candlesvc.localdb import LocalCluster, LocalDbError
from candlesvc.security import generate_key
from candlesvc.settings import SettingsError, load_settings

from .common import fail

console = Console(stderr=True, highlight=False)
DEFAULT_DATA_DIR = ".candlesvc"


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
    cluster = None
    if not env.get("DATABASE_URL"):
        cluster, env["DATABASE_URL"] = _local_database(data_dir)
        if not env.get("MT5_API_KEY"):
            env["MT5_API_KEY"] = _local_key(data_dir)
            _announce(env["MT5_API_KEY"], host, port)
    try:
        load_settings(env)
    except SettingsError as error:
        fail(f"refusing to start: {error}", code=2)
    try:
        sys.exit(_gunicorn(env, f"{host}:{port}", workers))
    finally:
        if cluster is not None:
            cluster.stop()


def _local_database(data_dir: Path) -> tuple[LocalCluster, str]:
    """Start (creating on first use) the private cluster and bring its schema up to date."""
    try:
        cluster = LocalCluster(data_dir)
        info = cluster.ensure_running()
        url = cluster.ensure_database(info, "candlesvc")
        apply_migrations(url)
    except LocalDbError as error:
        fail(str(error), code=3)
    console.print(f"local PostgreSQL on 127.0.0.1:{info.port}, data in {cluster.pgdata}")
    return cluster, url


def _local_key(data_dir: Path) -> str:
    """The API key kept in the data folder, created on first start."""
    key_file = data_dir / "api-key"
    if not key_file.exists():
        key_file.write_text(generate_key() + "\n")
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def _announce(key: str, host: str, port: int) -> None:
    """Tell the developer the local key and how to use it."""
    console.print(f"API key (kept in the data folder): {key}")
    console.print("try it:")
    print(
        f"curl -i -X POST http://{host}:{port}/api/v1/candles "
        f"-H 'Content-Type: application/json' -H 'X-API-KEY: {key}' "
        '-d \'{"candles":[{"symbol":"EURUSD","timeframe":"M1",'
        '"timestamp":"2024-01-02T10:00:00Z","open":1.1,"high":1.2,'
        '"low":1.0,"close":1.15,"volume":42}]}\'',
        flush=True,
    )


def _gunicorn(env: dict[str, str], bind: str, workers: int | None) -> int:
    """Run gunicorn until it exits, passing SIGINT and SIGTERM on to it."""
    count = ["--workers", str(workers)] if workers else []
    command = [sys.executable, "-m", "gunicorn", "-c", "python:candlesvc.gunicorn_conf",
               "--bind", bind, *count, "candlesvc.wsgi:app"]  # fmt: skip
    server = subprocess.Popen(command, env=env)

    def forward(signum: int, _frame: object) -> None:
        server.send_signal(signum)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, forward)
    return server.wait()
