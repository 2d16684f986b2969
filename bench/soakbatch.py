"""Soak batches: a batch's candles follow from (client, batch number) alone.

Client c posts symbol SOAKcc; its batch n holds `size(c, n)` consecutive M1 bars starting
right after batch n-1's, so batches never overlap and the expected table can be rebuilt.
"""

import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from bench.candles import START, Bar, bars, candle_json, http_request

SIZES = (1, 100, 1_000)  # candles per batch, drawn with equal odds
_EPOCH = int(START.timestamp())


def symbol(client: int) -> str:
    """The symbol client `client` posts."""
    return f"SOAK{client:02d}"


def size(client: int, number: int) -> int:
    """How many candles batch `number` of `client` holds."""
    return random.Random(client << 32 | number).choice(SIZES)


@dataclass
class Layout:
    """Where each of one client's batches starts, in minutes after START."""

    client: int
    starts: list[int] = field(default_factory=lambda: [0])

    def start(self, number: int) -> int:
        """The first minute of batch `number`."""
        while len(self.starts) <= number:
            last = len(self.starts) - 1
            self.starts.append(self.starts[last] + size(self.client, last))
        return self.starts[number]

    def bars(self, number: int) -> Iterator[Bar]:
        """The bars of batch `number`."""
        seed = self.client << 32 | number
        return bars(size(self.client, number), self.start(number), seed=seed)

    def request(self, host: str, api_key: str, number: int) -> bytes:
        """Batch `number` as a complete HTTP request."""
        name = symbol(self.client)
        return http_request(host, api_key, [candle_json(b, name) for b in self.bars(number)])

    def rows(self, numbers: Iterable[int]) -> Iterator[str]:
        """The batches' rows as checksum text, in timestamp order (see bench.soakcheck)."""
        name = symbol(self.client)
        for number in sorted(set(numbers)):
            for b in self.bars(number):
                prices = "|".join(_plain(p) for p in (b.open, b.high, b.low, b.close))
                yield f"{name}|M1|{_EPOCH + 60 * b.minute}|{prices}|{b.volume}"


def _plain(price: str) -> str:
    """A 5-decimal price without trailing zeros, as PostgreSQL's trim_scale prints it."""
    return price.rstrip("0").rstrip(".")
