"""The candlesvc command line: run the service, manage the schema, import and check history."""

import psycopg
import typer
from rich.console import Console

from candlesvc.service.keys import generate_key
from candlesvc.store.schema import apply_migrations

from . import importer, series, serve
from .common import DatabaseUrl, Exit, fail

app = typer.Typer(
    help="Ingest MetaTrader 5 candles into PostgreSQL.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Manage the database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.command()(serve.serve)
app.command("import")(importer.import_files)
app.command("series")(series.list_series)
app.command("gaps")(series.list_gaps)
console = Console(stderr=True)


@app.command()
def keygen() -> None:
    """Print a new random API key for MT5_API_KEY.

    Example: export MT5_API_KEY="$(candlesvc keygen)"
    """
    print(generate_key())


@db_app.command("init")
def db_init(database_url: DatabaseUrl) -> None:
    """Apply the schema files in sql/ that the database has not seen yet.

    Example: DATABASE_URL=postgresql://user:pass@host:5432/db candlesvc db init
    """
    try:
        applied = apply_migrations(database_url)
    except (psycopg.Error, RuntimeError, OSError) as error:
        fail(f"schema not applied: {error}", code=Exit.DATABASE)
    if applied:
        console.print(f"applied: {', '.join(applied)}")
    else:
        console.print("schema is up to date")
