"""The fork server the importer's workers start from: light to import, so it starts first.

It loads the parsing code once; each worker then starts from it in milliseconds. Started
as `candlesvc import` begins, it loads that code while the command loads its own.
"""

import multiprocessing
from multiprocessing import forkserver
from multiprocessing.context import ForkServerContext

PRELOAD = ["candlesvc.history.rows"]


def start() -> ForkServerContext | None:
    """Start the fork server if it is not running; its context, or None if refused."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    try:
        forkserver.ensure_running()
    except OSError:  # e.g. no room for its socket
        return None
    return context
