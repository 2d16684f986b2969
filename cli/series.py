"""`candlesvc series` and `candlesvc gaps`: what is stored, and where bars are missing."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import psycopg
import typer
from pydantic import TypeAdapter, ValidationError
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from candlesvc.model.candle import EARLIEST, LATEST, Symbol, TimeframeName
from candlesvc.model.timezones import parse_zone
from candlesvc.service.queries import instant
from candlesvc.store import series
from candlesvc.store.pool import connect_kwargs

from .common import DatabaseUrl, Exit, fail

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON on standard output.")]


def list_series(
    database_url: DatabaseUrl,
    symbol: Annotated[str | None, typer.Option(help="Only this symbol's series.")] = None,
    timeframe: Annotated[str | None, typer.Option(help="Only this timeframe.")] = None,
    as_json: AsJson = False,
) -> None:
    """List the stored series: first and last bar (UTC), exact bar count, lag.

    Example: candlesvc series --symbol EURUSD

    The lag is the time from the newest bar to now.
    """
    with _connection(database_url) as conn:
        found = series.catalogue(
            conn,
            symbol and _valid(_SYMBOL, symbol, "--symbol"),
            timeframe and _valid(_TIMEFRAME, timeframe, "--timeframe"),
        )
    now = datetime.now(UTC)
    if as_json:
        print(json.dumps({"counts": "exact", "series": [_entry(s, now) for s in found]}))
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for heading in ("symbol", "timeframe", "first (UTC)", "last (UTC)", "bars", "lag"):
        table.add_column(heading, justify="right" if heading in ("bars", "lag") else "left")
    for s in found:
        table.add_row(
            Text(s.symbol),
            s.timeframe,
            _short(s.first),
            _short(s.last),
            f"{s.bars:,}",
            _lag(now - s.last),
        )
    _console().print(table)


def list_gaps(
    symbol: Annotated[str, typer.Argument(help="The series' symbol.")],
    timeframe: Annotated[str, typer.Argument(help="The series' timeframe, e.g. M1.")],
    database_url: DatabaseUrl,
    start: Annotated[str | None, typer.Option("--from", help="From this time (UTC).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Up to this time (UTC).")] = None,
    tz: Annotated[str, typer.Option("--tz", help="The broker's clock (e.g. NY+7).")] = "UTC",
    weekend: Annotated[
        bool, typer.Option(help="No bars due Saturday and Sunday on the broker's clock.")
    ] = False,
    min_missing: Annotated[int, typer.Option(min=1, help="Only gaps of this many bars.")] = 1,
    limit: Annotated[int, typer.Option(min=1, help="Most gaps listed.")] = 1000,
    as_json: AsJson = False,
) -> None:
    """List where bars are missing in a series: consecutive bars further apart than due.

    Example: candlesvc gaps EURUSD M1 --tz NY+7 --weekend

    Bars are due at every step of the timeframe on the broker's wall clock (--tz);
    with --weekend, none from Saturday 00:00 to Monday 00:00 (with NY+7, the FX week).
    """
    zone = _option(parse_zone, tz, "--tz")
    span = (_instant(start, "--from") or EARLIEST, _instant(end, "--to") or LATEST)
    name, frame = _valid(_SYMBOL, symbol, "SYMBOL"), _valid(_TIMEFRAME, timeframe, "TIMEFRAME")
    with _connection(database_url) as conn:
        found, more = series.gaps(conn, name, frame, span, zone, weekend, min_missing, limit)
    if as_json:
        gaps = [
            {
                "after": _text(g.after),
                "before": _text(g.before),
                "first_missing": _text(g.first),
                "last_missing": _text(g.last),
                "missing": g.missing,
            }
            for g in found
        ]
        print(
            json.dumps(
                {
                    "symbol": name,
                    "timeframe": frame,
                    "source_tz": zone.name,
                    "gaps": gaps,
                    "truncated": more,
                }
            )
        )
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for heading in ("first missing (UTC)", "last missing (UTC)", "bars"):
        table.add_column(heading, justify="right" if heading == "bars" else "left")
    for g in found:
        table.add_row(_short(g.first), _short(g.last), f"{g.missing:,}")
    console = _console()
    console.print(table)
    total = sum(g.missing for g in found)
    console.print(f"{len(found):,} gap(s), {total:,} bar(s) missing{' (more not listed)' * more}")


@contextmanager
def _connection(url: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection for one read; a database failure is one line and exit code 3."""
    try:
        with psycopg.connect(url, autocommit=True, **connect_kwargs(False)) as conn:
            yield conn
    except psycopg.Error as error:
        fail(f"database failed: {str(error).strip().splitlines()[0]}", code=Exit.DATABASE)


def _option(parse: Any, value: str, name: str) -> Any:
    """A value read by `parse`, or a usage error naming the option."""
    try:
        return parse(value)
    except ValueError as error:
        fail(f"{name}: {error}", code=Exit.USAGE)


def _valid(adapter: TypeAdapter[str], value: str, name: str) -> str:
    """A symbol or timeframe as the model reads it (m1 is M1), or a usage error."""
    try:
        return adapter.validate_python(value)
    except ValidationError as error:
        fail(f"{name}: {error.errors()[0]['msg']}", code=Exit.USAGE)


def _instant(value: str | None, name: str) -> datetime | None:
    """A time option: ISO 8601 with an offset or Z, or epoch seconds (UTC)."""
    return None if value is None else _option(instant, value, name)


def _entry(s: series.Series, now: datetime) -> dict[str, Any]:
    return {
        "symbol": s.symbol,
        "timeframe": s.timeframe,
        "first": _text(s.first),
        "last": _text(s.last),
        "bars": s.bars,
        "received_at": _text(s.received_at) if s.received_at else None,
        "age_seconds": int((now - s.last).total_seconds()),
    }


def _text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _short(moment: datetime) -> str:
    """A time for a table: 2024-01-02 10:00 (UTC)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def _console() -> Console:
    """Standard output; as wide as it needs when it is not a terminal."""
    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = 200
    return console


def _lag(age: timedelta) -> str:
    """An age in the largest unit that fits: 42 s, 17 min, 5 h, 3 d."""
    seconds = int(age.total_seconds())
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


_SYMBOL: TypeAdapter[str] = TypeAdapter(Symbol)
_TIMEFRAME: TypeAdapter[str] = TypeAdapter(TimeframeName)
