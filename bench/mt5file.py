"""Generated MT5 M1 history exports and the same rows as plain CSV for psql's \\copy."""

from datetime import timedelta
from pathlib import Path

from bench.candles import START, bars

HEADER = "<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>\n"
SYMBOL, TIMEFRAME = "EURUSD", "M1"
_CYCLE = 100_000  # distinct price bars, repeated with ever later times
_CLOCK = [f"{h:02d}:{m:02d}:00" for h in range(24) for m in range(60)]


def mt5_name(rows: int) -> str:
    """An export's file name as MT5 makes it: symbol, timeframe, first and last bar."""
    last = START + timedelta(minutes=rows - 1)
    return f"{SYMBOL}_{TIMEFRAME}_{START:%Y%m%d%H%M}_{last:%Y%m%d%H%M}.csv"


def write_exports(folder: Path, rows: int, with_csv: bool) -> tuple[Path, Path | None]:
    """Write the MT5 export of `rows` consecutive bars and, if asked, the same rows as CSV."""
    prices = [(b.open, b.high, b.low, b.close, b.volume) for b in bars(min(rows, _CYCLE))]
    mt5_path = folder / mt5_name(rows)
    csv_path = folder / f"{SYMBOL}_{TIMEFRAME}_{rows}.plain.csv" if with_csv else None
    with mt5_path.open("w") as mt5, (csv_path or Path("/dev/null")).open("w") as csv:
        mt5.write(HEADER)
        for day_start in range(0, rows, 1440):
            day = (START + timedelta(minutes=day_start)).date()
            span = range(day_start, min(rows, day_start + 1440))
            mt5.write(_mt5_lines(day.strftime("%Y.%m.%d"), span, prices))
            if csv_path:
                csv.write(_csv_lines(day.isoformat(), span, prices))
    return mt5_path, csv_path


def _mt5_lines(day: str, span: range, prices: list[tuple[str, str, str, str, int]]) -> str:
    return "".join(
        f"{day}\t{_CLOCK[m % 1440]}\t{o}\t{h}\t{lo}\t{c}\t{v}\t0\t0\n"
        for m in span
        for o, h, lo, c, v in (prices[m % len(prices)],)
    )


def _csv_lines(day: str, span: range, prices: list[tuple[str, str, str, str, int]]) -> str:
    return "".join(
        f"{SYMBOL},{TIMEFRAME},{day} {_CLOCK[m % 1440]}+00,{o},{h},{lo},{c},{v}\n"
        for m in span
        for o, h, lo, c, v in (prices[m % len(prices)],)
    )
