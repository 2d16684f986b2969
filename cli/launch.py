"""The `candlesvc` command's entry point, light to import.

Worker processes that parse history files re-import the program's main script when
they start; this module loads the command line only when it runs, so they start fast.
For `candlesvc import`, it first starts the workers' fork server, which loads the
parsing code on another core while this process loads the command line.
"""

import gc
import sys


def main() -> None:
    """Run the candlesvc command line; at exit, leave what it made to the OS, uncollected."""
    if sys.argv[1:2] == ["import"] and "--help" not in sys.argv:
        from candlesvc.history.pipeline import start_server

        start_server()
    from .main import app

    try:
        app()
    finally:
        gc.freeze()  # the interpreter's exit then skips collecting it: 0.1 s after an import
