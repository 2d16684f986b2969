"""Requests counted in fixed windows, in a storage (e.g. Redis) that every worker shares."""

import logging
import math
import time

from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

log = logging.getLogger("candlesvc.ratelimit")


class RateLimit:
    """A rate such as 20/second;600/minute, applied to each identity on its own."""

    def __init__(self, rate: str, storage_uri: str) -> None:
        self.rate = rate
        self._items: list[RateLimitItem] = parse_many(rate)
        self._limiter = FixedWindowRateLimiter(storage_from_string(storage_uri))

    def hit(self, *identity: str) -> int | None:
        """Count one request; None if it is within the rate, else the seconds until it is.

        If the storage cannot be reached, the request is let through and a warning logged:
        an unreachable limit store must not stop the service.
        """
        try:
            for item in self._items:
                if not self._limiter.hit(item, *identity):
                    return self._wait(item, identity)
        except Exception as error:  # the storage client's errors have no common base
            log.warning("rate limit storage failed: %s", type(error).__name__)
        return None

    def _wait(self, item: RateLimitItem, identity: tuple[str, ...]) -> int:
        """Whole seconds until the window of `item` that `identity` filled is over."""
        reset = self._limiter.get_window_stats(item, *identity).reset_time
        return max(1, math.ceil(reset - time.time()))
