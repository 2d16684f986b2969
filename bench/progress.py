"""One line on stderr per finished step, with the time since the run began."""

import sys
import time

_BEGAN = time.monotonic()


def say(message: str) -> None:
    """Report progress without disturbing the table printed on stdout."""
    print(f"[{time.monotonic() - _BEGAN:5.0f} s] {message}", file=sys.stderr, flush=True)
