"""A time limit on a block under gevent: the block is interrupted when it runs out."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import gevent


@dataclass
class Expiry:
    """Whether the time ran out before the block ended."""

    ran_out: bool = False


@contextmanager
def deadline(seconds: float) -> Iterator[Expiry]:
    """Interrupt the block after `seconds`; afterwards, the Expiry says whether it did."""
    expiry = Expiry()
    timer = gevent.Timeout(seconds)
    try:
        with timer:
            yield expiry
    except gevent.Timeout as error:
        if error is not timer:
            raise
        expiry.ran_out = True
