"""The `candlesvc` command's entry point, light to import.

Worker processes that parse history files re-import the program's main script when
they start; this module loads the command line only when it runs, so they start fast.
"""


def main() -> None:
    """Run the candlesvc command line."""
    from cli.main import app

    app()
