"""Connections: one pool per worker process, and transactions whose waits are bounded."""

import select
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool


def connect_kwargs(prepared_statements: bool) -> dict[str, Any]:
    """Connection options; without prepared statements they are safe behind any pooler."""
    return {"prepare_threshold": 5 if prepared_statements else None}


def make_pool(
    url: str, min_size: int, max_size: int, timeout: float, prepared_statements: bool
) -> ConnectionPool:
    """A closed pool of autocommit connections for one worker process; open it after fork."""
    return ConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        timeout=timeout,
        kwargs={"autocommit": True, **connect_kwargs(prepared_statements)},
        check=check_alive,
        open=False,
        name="candlesvc",
    )


# Set per transaction, so that it holds behind a transaction-mode pooler too.
_BOUNDS = "SELECT set_config('lock_timeout', %s, true), set_config('statement_timeout', %s, true)"


@contextmanager
def bounded(
    conn: psycopg.Connection[Any], lock_timeout: float, statement_timeout: float
) -> Iterator[None]:
    """A transaction on conn whose lock waits and statements are bounded."""
    with conn.transaction():
        limits = (lock_timeout, statement_timeout)
        conn.execute(_BOUNDS, [f"{round(seconds * 1000)}ms" for seconds in limits])
        yield


def check_alive(conn: psycopg.Connection[Any]) -> None:
    """Refuse a pooled connection the server has closed, without a round trip.

    An idle connection receives nothing unless the server ends it (a restart,
    pg_terminate_backend, a pooler closing it): its socket is then readable. The
    connection is closed before refusing it, so the pool replaces it.
    """
    try:
        if not conn.closed and not readable(conn.fileno()):
            return
    except (OSError, ValueError, psycopg.Error):
        pass
    conn.close()
    raise psycopg.OperationalError("the server closed the connection")


def readable(fd: int) -> bool:
    """Whether a socket has data or an end of file waiting (poll: any descriptor number)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))
