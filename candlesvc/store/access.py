"""Whether the connected role may write candles, read from the catalogs without writing.

A role writes if it holds the privileges the writer uses and, where row level security
applies to it (no BYPASSRLS, not the owner), permissive policies that let it insert and
read (INSERT … ON CONFLICT checks both), and update for ?on_conflict=update. A policy's
condition is not evaluated: a write it refuses still fails, as a privilege error.
"""

from dataclasses import dataclass
from typing import Any

from psycopg import Connection

from candlesvc.store.writer import OnConflict

GUIDE = "docs/deployment.md"
_PROBE = """
WITH t AS (SELECT to_regclass('market_data_candles') AS t,
                  to_regclass('market_data_candles_id_seq') AS seq),
policies AS (
    SELECT p.polcmd FROM pg_policy p, t
    WHERE p.polrelid = t.t AND p.polpermissive
      AND EXISTS (SELECT FROM unnest(p.polroles) AS r(oid)
                  WHERE CASE WHEN r.oid = 0 THEN true ELSE pg_has_role(r.oid, 'USAGE') END))
SELECT current_user, t.t IS NOT NULL,
       has_table_privilege(t.t, 'INSERT'),
       has_column_privilege(t.t, 'symbol', 'SELECT')
           AND has_column_privilege(t.t, 'timeframe', 'SELECT')
           AND has_column_privilege(t.t, 'timestamp', 'SELECT'),
       t.seq IS NOT NULL AND has_sequence_privilege(t.seq, 'USAGE'),
       has_database_privilege(current_database(), 'TEMPORARY'),
       NOT row_security_active(t.t) OR EXISTS (SELECT FROM policies WHERE polcmd IN ('a', '*')),
       NOT row_security_active(t.t) OR EXISTS (SELECT FROM policies WHERE polcmd IN ('r', '*')),
       has_table_privilege(t.t, 'SELECT'),
       has_column_privilege(t.t, 'open', 'UPDATE') AND has_column_privilege(t.t, 'high', 'UPDATE')
           AND has_column_privilege(t.t, 'low', 'UPDATE')
           AND has_column_privilege(t.t, 'close', 'UPDATE')
           AND has_column_privilege(t.t, 'volume', 'UPDATE'),
       NOT row_security_active(t.t) OR EXISTS (SELECT FROM policies WHERE polcmd IN ('w', '*'))
FROM t
"""
_NEEDED = (  # what each of the probe's answers after the table's existence stands for
    "INSERT on market_data_candles",
    'SELECT on market_data_candles (symbol, timeframe, "timestamp")',
    "USAGE on sequence market_data_candles_id_seq",
    "TEMPORARY on the database",
    "a row level security policy FOR INSERT",
    "a row level security policy FOR SELECT",
)
_NEEDED_TO_UPDATE = (
    "SELECT on market_data_candles",
    "UPDATE on market_data_candles (open, high, low, close, volume)",
    "a row level security policy FOR UPDATE",
)


@dataclass(frozen=True)
class WriteAccess:
    """The connected role and what it lacks to write candles (nothing: it may)."""

    role: str
    lacks: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Whether the role may write."""
        return not self.lacks

    def reason(self) -> str:
        """One line saying why the role cannot write, and where the fix is described."""
        return (
            f"the database role {self.role} cannot write candles: it lacks "
            f"{'; '.join(self.lacks)} (a configuration error, see {GUIDE})"
        )


def write_access(conn: Connection[Any], on_conflict: OnConflict = OnConflict.IGNORE) -> WriteAccess:
    """What the connected role lacks to write candles with `on_conflict`, in one query."""
    role, table_exists, *answers = conn.execute(_PROBE).fetchone() or ("?", False)
    if not table_exists:
        return WriteAccess(role, ("a table market_data_candles in its search path (db init?)",))
    needed = _NEEDED + (_NEEDED_TO_UPDATE if on_conflict is OnConflict.UPDATE else ())
    held: list[bool] = answers[: len(needed)]
    return WriteAccess(role, tuple(n for n, h in zip(needed, held, strict=True) if not h))
