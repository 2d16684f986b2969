"""Pieces the commands share: options, exit codes and one-line failures."""

from enum import IntEnum
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.text import Text


class Exit(IntEnum):
    """The commands' exit codes."""

    OK = 0
    INVALID = 1  # invalid input: a row, or a file's format
    USAGE = 2  # an option, a file name giving no symbol or timeframe, no DATABASE_URL
    DATABASE = 3  # database unreachable, failed, or refusing the role; nothing half-written
    MISSING = 4  # a missing or unreadable file
    WORKER = 5  # a worker process parsing a file died
    INTERRUPTED = 130


DatabaseUrl = Annotated[
    str,
    typer.Option(
        "--database-url", envvar="DATABASE_URL", help="PostgreSQL URL.", show_default=False
    ),
]
_stderr = Console(stderr=True, highlight=False)


def error_line(message: str) -> Text:
    """The line `error: message`, the message as it is (file names may hold [brackets])."""
    return Text.assemble(("error:", "bold red"), " ", message)


def fail(message: str, code: Exit = Exit.INVALID) -> NoReturn:
    """Print one line to stderr and exit with `code`."""
    _stderr.print(error_line(message), soft_wrap=True)
    raise typer.Exit(code)
