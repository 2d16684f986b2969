"""Pieces the commands share: options, exit codes and one-line failures."""

from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.text import Text

EXIT_USAGE = 2
EXIT_DATABASE = 3
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


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one line to stderr and exit with `code`."""
    _stderr.print(error_line(message), soft_wrap=True)
    raise typer.Exit(code)
