"""A real PgBouncer in transaction mode (like Supabase's port 6543) in front of the test server."""

import os
import pwd
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from candlesvc.store.localdb import SUPERUSER, free_port
from tests.conftest import PG_PASSWORD, PG_PORT, scratch_dir
from tests.programs import require

_INI = """\
[databases]
* = host=127.0.0.1 port={upstream}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
pool_mode = transaction
default_pool_size = {pool_size}
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = 100
auth_type = scram-sha-256
auth_file = {folder}/userlist.txt
admin_users = {user}
logfile = {folder}/pgbouncer.log
pidfile = {folder}/pgbouncer.pid
"""


@dataclass(frozen=True)
class Bouncer:
    """A running PgBouncer: its port, pool size and files."""

    port: int
    pool_size: int
    folder: Path

    def url(self, dbname: str) -> str:
        """The URL of a test database, reached through PgBouncer."""
        return f"postgresql://{SUPERUSER}:{PG_PASSWORD}@127.0.0.1:{self.port}/{dbname}"

    def show(self, what: str) -> list[dict[str, Any]]:
        """The admin console's SHOW `what` (POOLS, CLIENTS, SERVERS ...), one dict a row."""
        with psycopg.connect(self.url("pgbouncer"), autocommit=True) as conn:
            cur = psycopg.ClientCursor(conn)  # the console speaks only the simple query protocol
            cur.execute(f"SHOW {what}".encode())
            names = [column.name for column in cur.description or []]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


@contextmanager
def pgbouncer(pool_size: int = 3) -> Iterator[Bouncer]:
    """Start PgBouncer (as the postgres user when root) and stop it afterwards."""
    binary = require("pgbouncer", "pgbouncer", "/usr/sbin")
    folder = scratch_dir()
    bouncer = Bouncer(free_port(), pool_size, folder)
    ini = _configure(bouncer)
    prefix = _run_as()
    process = subprocess.Popen(
        [*prefix, binary, str(ini)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_until_ready(bouncer, process)
        yield bouncer
    finally:
        _stop(bouncer, process)
        shutil.rmtree(folder, ignore_errors=True)


def _configure(bouncer: Bouncer) -> Path:
    """Write the ini and the auth file, owned by the user PgBouncer runs as."""
    folder = bouncer.folder
    ini = folder / "pgbouncer.ini"
    ini.write_text(
        _INI.format(
            upstream=PG_PORT,
            port=bouncer.port,
            pool_size=bouncer.pool_size,
            folder=folder,
            user=SUPERUSER,
        )
    )
    userlist = folder / "userlist.txt"
    userlist.write_text(f'"{SUPERUSER}" "{PG_PASSWORD}"\n')
    userlist.chmod(0o600)
    if os.geteuid() == 0:
        runner = pwd.getpwnam("postgres")
        for path in (folder, ini, userlist):
            os.chown(path, runner.pw_uid, runner.pw_gid)
    return ini


def _run_as() -> list[str]:
    """PgBouncer refuses to run as root: run it as postgres then."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _wait_until_ready(bouncer: Bouncer, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"pgbouncer exited with {process.returncode}:\n{_tail(bouncer)}")
        try:
            bouncer.show("VERSION")
            return
        except psycopg.OperationalError:
            time.sleep(0.05)
    raise RuntimeError(f"pgbouncer did not accept connections:\n{_tail(bouncer)}")


def _stop(bouncer: Bouncer, process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the pgbouncer process itself (not only runuser); wait for it to exit."""
    pidfile = bouncer.folder / "pgbouncer.pid"
    try:
        os.kill(int(pidfile.read_text().split()[0]), signal.SIGTERM)
    except (OSError, ValueError, IndexError):
        process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def _tail(bouncer: Bouncer) -> str:
    log = bouncer.folder / "pgbouncer.log"
    return log.read_text(errors="replace")[-1500:] if log.exists() else ""
