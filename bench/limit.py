"""The limit: raw COPY of the bulk scenarios' rows into the empty table from one connection."""

from collections.abc import Callable, Sequence
from time import perf_counter

import psycopg
from psycopg import Copy

from bench.candles import Bar, copy_chunks, copy_row
from bench.figures import Figure
from bench.report import say
from bench.stack import count_rows, reset

COPY = (
    'COPY market_data_candles (symbol, timeframe, "timestamp", open, high, low, close, volume)'
    " FROM STDIN"
)


class Limit:
    """COPYs the same rows two ways, as often as asked; the limit is the fastest run."""

    def __init__(self, url: str, bars: Sequence[Bar]) -> None:
        self.url = url
        self.count = len(bars)
        self._rows = [copy_row(bar, "EURUSD") for bar in bars]
        self._chunks = copy_chunks(bars, "EURUSD")
        self.text_runs: list[float] = []
        self.typed_runs: list[float] = []

    def warm_up(self) -> None:
        """One COPY whose rate is not kept: a new cluster first has to create its WAL files."""
        self._copy(self._text)

    def measure(self, typed: bool = True) -> None:
        """One COPY of pre-encoded text and, if asked, one of typed tuples via write_row."""
        self.text_runs.append(self._copy(self._text))
        if typed:
            self.typed_runs.append(self._copy(self._typed))
        typed_note = f", write_row {self.typed_runs[-1]:,.0f}" if typed else ""
        say(f"COPY of {self.count:,} rows: text {self.text_runs[-1]:,.0f}{typed_note} rows/s")

    @property
    def best(self) -> float:
        """The fastest COPY of all: the limit every ratio is taken against."""
        return max(self.text_runs + self.typed_runs)

    def figures(self) -> list[Figure]:
        """The limit, and COPY through psycopg's value adaptation for comparison."""
        runs = ", ".join(f"{rate:,.0f}" for rate in self.text_runs)
        return [
            Figure(
                "limit",
                "Limit: raw COPY FROM STDIN, 1 connection, no HTTP",
                self.best,
                note=f"fastest COPY of {self.count:,} rows; pre-encoded text runs {runs}/s",
            ),
            Figure(
                "copy_typed",
                "COPY, 1 connection, psycopg write_row of typed tuples",
                max(self.typed_runs),
                note="what Python-side value adaptation costs",
            ),
        ]

    def _copy(self, feed: Callable[[Copy], None]) -> float:
        """Rows/s of one COPY FROM STDIN into the empty table, commit included."""
        reset(self.url)
        with psycopg.connect(self.url) as conn, conn.cursor() as cur:
            began = perf_counter()
            with cur.copy(COPY) as copy:
                feed(copy)
            conn.commit()
            seconds = perf_counter() - began
        if count_rows(self.url) != self.count:
            raise RuntimeError("COPY stored a different number of rows than it sent")
        return self.count / seconds

    def _text(self, copy: Copy) -> None:
        """COPY text-format bytes prepared in advance, as psql's \\copy sends them."""
        for chunk in self._chunks:
            copy.write(chunk)

    def _typed(self, copy: Copy) -> None:
        """Typed tuples through psycopg's `write_row` (it adapts each value)."""
        for row in self._rows:
            copy.write_row(row)
