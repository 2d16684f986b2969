"""The `candlesvc` command's entry point, light to import.

Worker processes that parse history files re-import the program's main script when they
start; this module loads the command line only when it runs, so that they start fast.
"""


def main() -> None:
    """Run the candlesvc command line."""
    from .main import app  # here, not when a worker process imports this module

    app()
