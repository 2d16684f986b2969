"""A private PostgreSQL cluster in a local folder, for development and tests.

PostgreSQL refuses to run as root, so when invoked as root the cluster's files
belong to, and its server runs as, an unprivileged OS user (postgres or nobody).
"""

import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from candlesvc.store.private import (
    check_folder,
    create_private,
    make_private_dir,
    read_private,
    replace_private,
)

SUPERUSER = "candlesvc"
_SEARCH = (
    "/usr/lib/postgresql/*/bin",
    "/usr/pgsql-*/bin",
    "/usr/local/pgsql/bin",
    "/opt/homebrew/opt/postgresql*/bin",
    "/usr/local/opt/postgresql*/bin",
)


class LocalDbError(RuntimeError):
    """The local cluster cannot be created or started; the message says why."""


@dataclass(frozen=True)
class ClusterInfo:
    """How to reach a local cluster."""

    port: int
    password: str

    def url(self, dbname: str = SUPERUSER) -> str:
        """A connection URL for the cluster's superuser."""
        return f"postgresql://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{dbname}"


def find_bindir() -> Path:
    """The folder holding initdb and pg_ctl: PATH first, then the usual install folders."""
    on_path = shutil.which("pg_ctl")
    candidates = [Path(on_path).resolve().parent] if on_path else []
    for pattern in _SEARCH:
        candidates += sorted(Path("/").glob(pattern.lstrip("/")), key=_version, reverse=True)
    for folder in candidates:
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    raise LocalDbError(
        "PostgreSQL server binaries (initdb, pg_ctl) were not found; install them "
        "(Debian: apt-get install postgresql) or set DATABASE_URL"
    )


def _version(folder: Path) -> tuple[int, ...]:
    digits = "".join(ch if ch.isdigit() else " " for ch in str(folder)).split()
    return tuple(int(d) for d in digits)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LocalCluster:
    """A cluster under `root`: root/pgdata holds the data, root/cluster.json how to reach it."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.pgdata = self.root / "pgdata"
        self._info_file = self.root / "cluster.json"
        self._bindir = find_bindir()
        self._runner = _unprivileged_user() if os.geteuid() == 0 else None

    def prepare(self) -> None:
        """Create the data folder private, or refuse one that other users own or may change.

        As root, the unprivileged user that runs the server may pass through it (mode 710).
        """
        if make_private_dir(self.root) and self._runner is not None:
            os.chown(self.root, -1, self._runner.pw_gid)
            self.root.chmod(0o710)
        check_folder(self.root)

    def ensure_running(self, port: int | None = None, password: str | None = None) -> ClusterInfo:
        """Initialise the cluster if needed, start it if stopped, and say how to reach it."""
        self.prepare()
        info = self._load_info() or self._initialise(
            ClusterInfo(port or free_port(), password or secrets.token_urlsafe(24))
        )
        if not self.is_running():
            self.start()
        return info

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self._pg_ctl("start", "-w", "-t", "60", "-l", str(self.pgdata / "server.log"))

    def is_running(self) -> bool:
        """Whether the cluster's server is up."""
        if not (self.pgdata / "PG_VERSION").exists():
            return False
        status = self._run([self._bindir / "pg_ctl", "status", "-D", self.pgdata], check=False)
        return status.returncode == 0

    def ensure_database(self, info: ClusterInfo, dbname: str) -> str:
        """Create `dbname` if it does not exist; return its URL."""
        with psycopg.connect(info.url("postgres"), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,))
            if exists.fetchone() is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
        return info.url(dbname)

    def stop(self) -> None:
        """Stop the server, letting it finish quickly."""
        if self.is_running():
            self._pg_ctl("stop", "-w", "-m", "fast")

    def _pg_ctl(self, *args: str) -> None:
        self._run([self._bindir / "pg_ctl", *args, "-D", self.pgdata])

    def _load_info(self) -> ClusterInfo | None:
        if not self._info_file.exists() or not (self.pgdata / "PG_VERSION").exists():
            return None
        data = json.loads(read_private(self._info_file))
        return ClusterInfo(port=int(data["port"]), password=str(data["password"]))

    def _initialise(self, info: ClusterInfo) -> ClusterInfo:
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        pwfile = self.root / f".pw-{secrets.token_hex(4)}"
        create_private(pwfile, info.password)
        try:
            self._hand_over(self.pgdata, pwfile)
            self._run(
                [
                    self._bindir / "initdb",
                    "-D",
                    self.pgdata,
                    "-U",
                    SUPERUSER,
                    f"--pwfile={pwfile}",
                    "--auth=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-instructions",
                ]
            )
        finally:
            pwfile.unlink()
        self._configure(info.port)
        replace_private(self._info_file, json.dumps({"port": info.port, "password": info.password}))
        return info

    def _configure(self, port: int) -> None:
        settings = (
            f"\nport = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n"
            "fsync = on\nmax_connections = 200\n"
        )
        with (self.pgdata / "postgresql.auto.conf").open("a") as conf:
            conf.write(settings)

    def _hand_over(self, *paths: Path) -> None:
        """As root, give the cluster's files to the unprivileged user."""
        if self._runner is None:
            return
        for path in paths:
            os.chown(path, self._runner.pw_uid, self._runner.pw_gid)
        probe = self._run(["test", "-w", self.pgdata, "-a", "-r", paths[-1]], check=False)
        if probe.returncode != 0:
            raise LocalDbError(
                f"user {self._runner.pw_name} cannot reach {self.pgdata}: a parent folder "
                "is private; set CANDLESVC_DATA_DIR to a folder other users can traverse"
            )

    def _run(self, args: list[str | Path], check: bool = True) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", self._runner.pw_name, "--"] if self._runner else []
        result = subprocess.run(
            [*prefix, *map(str, args)], capture_output=True, text=True, check=False
        )
        if check and result.returncode != 0:
            raise LocalDbError(f"{Path(str(args[0])).name} failed: {self._explain(result)}")
        return result

    def _explain(self, result: subprocess.CompletedProcess[str]) -> str:
        log = self.pgdata / "server.log"
        tail = log.read_text(errors="replace")[-800:] if log.exists() else ""
        return (result.stderr.strip() or result.stdout.strip()) + (f"\n{tail}" if tail else "")


def _unprivileged_user() -> pwd.struct_passwd:
    """The OS user a root-invoked cluster runs as."""
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise LocalDbError("running as root needs a 'postgres' or 'nobody' user to run PostgreSQL")
