"""Hypothesis strategies for candle batches, each value paired with what the rules expect of it.

Every generated field carries a verdict, worked out here from the README's rules rather than
from the model: the value the service must store, REJECT when a documented rule forbids the
input, or ANY when the rules do not decide (lenient forms such as " 1.5" or "1_000").
"""

import json
import string
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from enum import Enum
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from candlesvc.model.candle import TIMEFRAMES
from candlesvc.model.timezones import parse_zone


class Verdict(Enum):
    """What the rules say about a value when they do not name the stored result."""

    REJECT = "reject"
    ANY = "any"


REJECT, ANY = Verdict.REJECT, Verdict.ANY
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1)
MQL_DATETIME_LIMIT = 4_102_444_800  # 2100-01-01 as epoch seconds
MAX_SCALE = 20  # at most 20 digits after the decimal point
INTEGER_DIGITS = 20  # and below 1E+20 in magnitude
MAX_VOLUME = 2**63 - 1
BROKER_CHARS = string.ascii_letters + string.digits + " ._#!$+-&"
BROKER_SYMBOLS = [
    "EURUSD",
    "EURUSD!",
    "WDO$N",
    "GOLD#",
    "XAUUSDm",
    "XAUUSD.pro",
    "US30.cash",
    "#AAPL",
    "DE40.c",
    "SPX500p",
    "EURUSD+",
    "EURUSD.raw",
    "US Oil",
    "Volatility 75 Index",
    "AT&T",
]
NEW_YORK = ZoneInfo("America/New_York")
IANA_NAMES = (  # DST both ways, 30-minute DST, a skipped day, negative DST, odd offsets
    "Europe/Athens",
    "America/New_York",
    "Europe/Dublin",
    "Australia/Lord_Howe",
    "Pacific/Apia",
    "Pacific/Chatham",
    "America/St_Johns",
    "Africa/Casablanca",
    "America/Sao_Paulo",
    "Asia/Kolkata",
)
# source_tz -> (zone, shift), written out independently of candlesvc.timezones.
CLOCKS: dict[str, tuple[tzinfo, timedelta]] = {
    "UTC": (UTC, timedelta(0)),
    "NY+7": (NEW_YORK, timedelta(hours=7)),
    "+02:00": (timezone(timedelta(hours=2)), timedelta(0)),
    "UTC+3": (timezone(timedelta(hours=3)), timedelta(0)),
    "GMT-5": (timezone(timedelta(hours=-5)), timedelta(0)),
    "-03:30": (timezone(-timedelta(hours=3, minutes=30)), timedelta(0)),
    "+05:45": (timezone(timedelta(hours=5, minutes=45)), timedelta(0)),
    "+14:00": (timezone(timedelta(hours=14)), timedelta(0)),
    "-14:00": (timezone(timedelta(hours=-14)), timedelta(0)),
    **{name: (ZoneInfo(name), timedelta(0)) for name in IANA_NAMES},
}
IANA_CLOCKS = [name for name, (zone, _) in CLOCKS.items() if isinstance(zone, ZoneInfo)]
# The service's SOURCE_TZ in the tests is the default, UTC.
DEFAULT_CLOCK = "UTC"


# ---- the rules, as the README states them -------------------------------------------------


def symbol_rule(value: Any) -> bool:
    """1-32 characters, no control characters, no leading or trailing blanks."""
    return (
        isinstance(value, str)
        and 1 <= len(value) <= 32
        and all(unicodedata.category(c) not in ("Cc", "Cs") for c in value)
        and not value[0].isspace()
        and not value[-1].isspace()
    )


def timeframe_verdict(value: Any) -> str | Verdict:
    """One of MT5's 21 names in any case, stored upper case."""
    if not isinstance(value, str) or value.upper() not in TIMEFRAMES:
        return REJECT
    return value.upper() if value.isascii() else ANY


def price_in_range(value: Decimal) -> bool:
    """Finite, below 1E+20 in magnitude, with at most 20 digits after the decimal point."""
    if not value.is_finite():
        return False
    return (
        value.copy_abs() < Decimal(10) ** INTEGER_DIGITS
        and -int(value.as_tuple().exponent) <= MAX_SCALE
    )


def number_verdict(value: Any) -> Decimal | Verdict:
    """A price as sent: JSON number or numeric string, finite, never a boolean."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        return REJECT
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        return REJECT
    if not price_in_range(number):
        return REJECT
    plain = not isinstance(value, str) or value == str(number) or _plain_numeral(value)
    return number if plain else ANY


def _plain_numeral(text: str) -> bool:
    """A JSON-number-shaped string: what the README calls a numeric string."""
    try:
        return isinstance(json.loads(text), int | float) and text.strip() == text
    except ValueError:
        return False


def instants_at(wall: datetime, clock: str) -> list[datetime]:
    """Every UTC instant at which the broker clock reads `wall`: none in a gap, two in a fold."""
    zone, shift = CLOCKS[clock]
    local = wall - shift
    offsets = {zone.utcoffset(local + timedelta(hours=h)) for h in range(-36, 37, 2)}
    candidates = {(local - off).replace(tzinfo=UTC) for off in offsets if off is not None}
    return sorted(t for t in candidates if t.astimezone(zone).replace(tzinfo=None) == local)


def wall_verdict(wall: datetime, clock: str) -> datetime | Verdict:
    """A broker wall-clock time alone: its first instant in 1970-2100 (the first pass through
    a repeated hour); rejected in a gap or out of range."""
    found = instants_at(wall, clock)
    if not found or not EARLIEST <= found[0] < LATEST:
        return REJECT
    return found[0]


def instant_verdict(instant: datetime) -> datetime | Verdict:
    """An exact instant: stored as it is when it falls in 1970-2100."""
    return instant if EARLIEST <= instant < LATEST else REJECT


def volume_verdict(value: Any) -> int | Verdict:
    """A JSON integer from 0 to the BIGINT maximum."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_VOLUME:
        return value
    return REJECT


# ---- generated values, each with its verdict -----------------------------------------------


@dataclass(frozen=True)
class Sent:
    """One generated value and what the rules expect the service to make of it."""

    raw: Any
    expected: Any
    wall: datetime | None = None  # the broker wall-clock time it names, if any


def _judged(values: st.SearchStrategy[Any], judge: Any) -> st.SearchStrategy[Sent]:
    return values.map(lambda value: Sent(value, judge(value)))


def _rejected(*values: Any) -> st.SearchStrategy[Sent]:
    return st.sampled_from(values).map(lambda value: Sent(value, REJECT))


@lru_cache
def symbols() -> st.SearchStrategy[Sent]:
    """Broker names, arbitrary text (control characters, blanks, any script), non-strings."""
    text = st.one_of(
        st.text(BROKER_CHARS, max_size=40),
        st.text(max_size=40),
        st.sampled_from(BROKER_SYMBOLS),
        st.builds(
            lambda pad, name, end: pad + name + end,
            st.sampled_from(["", " ", "\t", "\u00a0", "\u2028", "\u3000"]),
            st.sampled_from(BROKER_SYMBOLS),
            st.sampled_from(["", " ", "\n", "\u00a0", "\x00", "\x85"]),
        ),
        st.builds(lambda s: f"A{s}B", st.characters(codec="utf-8", categories=["Cc", "Zs", "Cf"])),
        st.builds(lambda s: f"A{s}B", st.characters(categories=["Cs"])),
    )
    return st.one_of(
        _judged(text, lambda s: s if symbol_rule(s) else REJECT), _rejected(None, 7, ["EURUSD"])
    )


MIXED_CASE_TIMEFRAMES = st.builds(
    lambda name, flips: "".join(c.lower() if f else c for c, f in zip(name, flips, strict=False)),
    st.sampled_from(TIMEFRAMES),
    st.lists(st.booleans(), min_size=3, max_size=3),
)


@lru_cache
def timeframes() -> st.SearchStrategy[Sent]:
    """The 21 names in mixed case, near misses, junk and non-strings."""
    mixed = MIXED_CASE_TIMEFRAMES
    near = st.sampled_from(
        ["M7", "H5", "1H", "MN", "M01", " M1", "M1 ", "M1\n", "m1\x00", "\uff2d1"]
    )
    text = st.one_of(mixed, mixed, near, st.text(max_size=5))
    return st.one_of(_judged(text, timeframe_verdict), _rejected(None, 1, 60, True, ["M1"]))


def _decimal(sign: int, digits: int, exponent: int) -> Decimal:
    return Decimal((sign, tuple(map(int, str(digits))), exponent))


@lru_cache
def decimals() -> st.SearchStrategy[Decimal]:
    """Decimals with up to 45 digits and exponents a little past the accepted range."""
    return st.builds(
        _decimal,
        st.integers(0, 1),
        st.one_of(st.integers(0, 10**6), st.integers(0, 10**17), st.integers(0, 10**45)),
        st.integers(-50, 25),
    )


@st.composite
def _in_range_decimals(draw: st.DrawFn) -> Decimal:
    places = draw(st.integers(-5, MAX_SCALE))  # digits after the point; negative: 1E+n forms
    most = 10 ** (INTEGER_DIGITS + places) - 1
    digits = draw(st.one_of(st.integers(0, min(10**6, most)), st.integers(0, most)))
    value = _decimal(draw(st.integers(0, 1)), digits, -places)
    assert price_in_range(value), value
    return value


IN_RANGE_DECIMALS = _in_range_decimals()


@lru_cache
def prices() -> st.SearchStrategy[Sent]:
    """JSON numbers with many digits, numeric strings, floats, ints, NaN/Infinity, booleans."""
    numbers = st.one_of(
        decimals(),
        decimals().map(str),
        st.floats(),
        st.integers(-(10**30), 10**30),
        st.sampled_from(["NaN", "nan", "-NaN", "sNaN", "Infinity", "-Infinity", "inf", "1e999"]),
        st.sampled_from(["", " ", "abc", "1,5", "0x10", "1.1.1", " 1.5", "1_000", "+2", ".5"]),
    )
    return st.one_of(_judged(numbers, number_verdict), _rejected(True, False, None, [1]))


@lru_cache
def volumes() -> st.SearchStrategy[Sent]:
    """Integers around the BIGINT range, floats, numeric strings, booleans."""
    values = st.one_of(
        st.integers(0, MAX_VOLUME),
        st.integers(-(2**70), 2**70),
        st.sampled_from([0, MAX_VOLUME, MAX_VOLUME + 1, -1]),
        st.floats(allow_nan=False, allow_infinity=False),
        st.sampled_from(["7", True, False, None, [1]]),
    )
    return _judged(values, volume_verdict)


@lru_cache(maxsize=2048)
def transitions(zone_name: str, year: int) -> tuple[datetime, ...]:
    """The UTC instants in a year at which a zone's offset changes (to the second)."""
    zone = ZoneInfo(zone_name)
    found = []
    day = datetime(year, 1, 1, tzinfo=UTC)
    while day.year == year:
        nxt = day + timedelta(days=1)
        if day.astimezone(zone).utcoffset() != nxt.astimezone(zone).utcoffset():
            low, high = day, nxt
            while high - low > timedelta(seconds=1):
                mid = low + (high - low) / 2
                same = mid.astimezone(zone).utcoffset() == low.astimezone(zone).utcoffset()
                low, high = (mid, high) if same else (low, mid)
            found.append(high)
        day = nxt
    return tuple(found)


ANYWHERE = st.datetimes(datetime(1969, 12, 25), datetime(2100, 1, 6))
EDGES = st.sampled_from([datetime(1970, 1, 1), datetime(2100, 1, 1)])
NEAR_EDGE = st.timedeltas(timedelta(hours=-16), timedelta(hours=16))
NEAR_CHANGE = st.timedeltas(timedelta(hours=-3), timedelta(hours=3))
YEARS = st.integers(1971, 2099)
WALL_FORMS = st.sampled_from(["iso", "iso-space", "mt5-minutes", "mt5-seconds", "date", "epoch"])


@st.composite
def _walls(draw: st.DrawFn, clock: str) -> datetime:
    zone, shift = CLOCKS[clock]
    kind = draw(
        st.sampled_from(["any", "edge", "dst"] if clock in IANA_CLOCKS else ["any", "edge"])
    )
    if kind == "any":
        return draw(ANYWHERE)
    if kind == "edge":
        return draw(EDGES) + draw(NEAR_EDGE)
    assert isinstance(zone, ZoneInfo)
    changes = transitions(zone.key, draw(YEARS))
    if not changes:
        return draw(ANYWHERE)
    change = changes[draw(st.integers(0, len(changes) - 1))]
    just_before = (change - timedelta(microseconds=1)).astimezone(zone).replace(tzinfo=None)
    return just_before + shift + draw(NEAR_CHANGE)


@lru_cache
def walls(clock: str) -> st.SearchStrategy[datetime]:
    """Broker wall-clock times: anywhere, at the 1970/2100 edges, and around DST changes."""
    return _walls(clock)


@st.composite
def _wall_timestamps(draw: st.DrawFn, clock: str) -> Sent:
    wall = draw(walls(clock))
    form = draw(WALL_FORMS)
    if form in ("mt5-seconds", "epoch"):
        wall = wall.replace(microsecond=0)
    elif form == "mt5-minutes":
        wall = wall.replace(second=0, microsecond=0)
    elif form == "date":
        wall = datetime.combine(wall.date(), datetime.min.time())
    expected = wall_verdict(wall, clock)
    if form == "epoch":
        seconds = int((wall - EPOCH).total_seconds())
        inside = 0 <= seconds < MQL_DATETIME_LIMIT
        return Sent(seconds, expected if inside else REJECT, wall if inside else None)
    text = {
        "iso": wall.isoformat(),
        "iso-space": wall.isoformat(" "),
        "mt5-minutes": f"{wall:%Y.%m.%d %H:%M}",
        "mt5-seconds": f"{wall:%Y.%m.%d %H:%M:%S}",
        "date": f"{wall:%Y.%m.%d}" if draw(st.booleans()) else f"{wall:%Y-%m-%d}",
    }[form]
    return Sent(text, expected, wall)


@lru_cache
def wall_timestamps(clock: str) -> st.SearchStrategy[Sent]:
    """A wall time as naive ISO 8601, MT5's YYYY.MM.DD HH:MM[:SS], a date, or epoch seconds."""
    return _wall_timestamps(clock)


@lru_cache
def offsets() -> st.SearchStrategy[timedelta]:
    """UTC offsets in whole minutes, as ISO 8601 writes them, up to a day either way.

    Offsets with seconds or fractions are refused by the model (tests/model/test_candle.py).
    """
    return st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: timedelta(minutes=m))


# Every year datetime can hold (a day's margin keeps the offsets applied below in range).
INSTANTS = st.one_of(
    st.datetimes(datetime(1, 1, 2), datetime(9999, 12, 30), timezones=st.just(UTC)),
    st.builds(
        lambda edge, delta: edge.replace(tzinfo=UTC) + delta,
        EDGES,
        st.timedeltas(timedelta(-1), timedelta(1)),
    ),
)
TIMESPECS = st.sampled_from(["auto", "seconds", "minutes"])


@st.composite
def _aware_timestamps(draw: st.DrawFn) -> Sent:
    instant = draw(INSTANTS)
    local = instant.astimezone(timezone(draw(offsets())))
    spec = draw(TIMESPECS)
    if local.microsecond or (spec == "minutes" and local.second):
        spec = "auto"
    text = local.isoformat("T" if draw(st.booleans()) else " ", timespec=spec)
    if text.endswith("+00:00") and draw(st.booleans()):
        text = text[:-6] + "Z"
    return Sent(text, instant_verdict(instant))


def aware_timestamps() -> st.SearchStrategy[Sent]:
    """An exact instant written in ISO 8601 with Z or any offset, at any precision."""
    return AWARE_TIMESTAMPS


AWARE_TIMESTAMPS = _aware_timestamps()


@lru_cache
def valid_timestamps(clock: str) -> st.SearchStrategy[Sent]:
    """Timestamps in a documented form that denote one instant in 1970-2100."""
    return _valid(st.one_of(aware_timestamps(), wall_timestamps(clock)))


@lru_cache
def timestamps(clock: str) -> st.SearchStrategy[Sent]:
    """Every documented timestamp form, plus junk whose fate the rules leave open."""
    iso_like = st.from_regex(
        r"\A(19|20|21)\d\d[-.][01]\d[-.][0-3]\d([T ][0-2]\d:[0-5]\d(:[0-5]\d(\.\d{1,6})?)?)?"
        r"(Z|[+-][01]\d:?[0-5]\d)?\Z"
    )
    return st.one_of(
        aware_timestamps(),
        wall_timestamps(clock),
        wall_timestamps(clock),
        _judged(iso_like | st.text(max_size=30), lambda _: ANY),
        st.integers(-(2**64), 2**64).map(lambda n: Sent(n, *_epoch_verdict(n, clock))),
        _rejected(None, True, False, 1.5e9, 1_704_189_600.0, [2024]),
    )


def _epoch_verdict(seconds: int, clock: str) -> tuple[datetime | Verdict, datetime | None]:
    if not 0 <= seconds < MQL_DATETIME_LIMIT:
        return REJECT, None
    wall = EPOCH + timedelta(seconds=seconds)
    return wall_verdict(wall, clock), wall


@dataclass
class CandleCase:
    """A generated candle as a dict of raw values, with its expected row (or a verdict)."""

    raw: dict[str, Any]
    expected: tuple[Any, ...] | Verdict
    wall: datetime | None = None  # its timestamp's broker wall-clock time, if it names one
    vague: bool = False  # its timestamp is junk that the service may or may not read


PRICE_NAMES = ("open", "high", "low", "close")
IN_RANGE = st.lists(IN_RANGE_DECIMALS, min_size=4, max_size=4)
CHANGES = st.sampled_from([None] * 8 + ["drop", "extra"])
FIELD_NAMES = ("symbol", "timeframe", "timestamp", "prices", "volume")


@st.composite
def _ordered_prices(draw: st.DrawFn) -> dict[str, Sent]:
    low, first, second, high = sorted(draw(IN_RANGE))
    opened, closed = (first, second) if draw(st.booleans()) else (second, first)
    as_text = draw(st.booleans())
    values = dict(zip(PRICE_NAMES, (opened, high, low, closed), strict=True))
    return {name: Sent(str(v) if as_text else v, v) for name, v in values.items()}


def _valid(strategy: st.SearchStrategy[Sent]) -> st.SearchStrategy[Sent]:
    return strategy.filter(lambda sent: sent.expected is not REJECT)


ORDERED_PRICES = _ordered_prices()
ANY_PRICES = st.fixed_dictionaries({name: prices() for name in PRICE_NAMES})
VALID_SYMBOLS = st.one_of(
    st.sampled_from(BROKER_SYMBOLS),
    st.text(BROKER_CHARS, min_size=1, max_size=32).filter(symbol_rule),
    st.text(min_size=1, max_size=32).filter(symbol_rule),
).map(lambda s: Sent(s, s))
VALID_TIMEFRAMES = MIXED_CASE_TIMEFRAMES.map(lambda name: Sent(name, name.upper()))
VALID_VOLUMES = st.one_of(st.integers(0, 10**6), st.integers(0, MAX_VOLUME)).map(
    lambda v: Sent(v, v)
)
# Mostly valid candles, some with one field drawn from its near misses, some anything at all.
MODES = st.sampled_from(["valid", "valid", "valid", "one-off", "one-off", "wild"])


@st.composite
def _candles(draw: st.DrawFn, clock: str) -> CandleCase:
    mode = draw(MODES)
    wild = set(FIELD_NAMES) if mode == "wild" else set()
    if mode == "one-off":
        wild.add(draw(st.sampled_from(FIELD_NAMES)))
    fields = {
        "symbol": draw(symbols() if "symbol" in wild else VALID_SYMBOLS),
        "timeframe": draw(timeframes() if "timeframe" in wild else VALID_TIMEFRAMES),
        "timestamp": draw(timestamps(clock) if "timestamp" in wild else valid_timestamps(clock)),
        **draw(ANY_PRICES if "prices" in wild else ORDERED_PRICES),
        "volume": draw(volumes() if "volume" in wild else VALID_VOLUMES),
    }
    raw = {name: sent.raw for name, sent in fields.items()}
    expected = _candle_verdict({name: sent.expected for name, sent in fields.items()})
    stamp = fields["timestamp"]
    change = draw(CHANGES) if mode != "valid" else None
    if change == "drop":
        del raw[draw(st.sampled_from(sorted(raw)))]
        expected = REJECT
    elif change == "extra":
        raw["tick_volume"] = 1
        expected = REJECT
    return CandleCase(raw, expected, stamp.wall, stamp.expected is ANY)


@lru_cache
def candles(clock: str) -> st.SearchStrategy[CandleCase]:
    """One candle: valid by construction, or with any field drawn from its near misses."""
    return _candles(clock)


def _candle_verdict(values: dict[str, Any]) -> tuple[Any, ...] | Verdict:
    verdicts = list(values.values())
    if REJECT in verdicts:
        return REJECT
    prices_known = all(isinstance(values[p], Decimal) for p in ("open", "high", "low", "close"))
    if prices_known and (
        values["low"] > min(values["open"], values["close"])
        or values["high"] < max(values["open"], values["close"])
    ):
        return REJECT
    if ANY in verdicts:
        return ANY
    names = ("symbol", "timeframe", "timestamp", "open", "high", "low", "close", "volume")
    return tuple(values[name] for name in names)


@dataclass
class BatchCase:
    """A generated request body and what the rules expect of it."""

    body: Any
    candles: list[CandleCase] = field(default_factory=list)
    zone_ok: bool = True

    @property
    def verdict(self) -> Verdict | None:
        """REJECT, ANY, or None when every candle is known to be valid."""
        if not self.zone_ok or not self.candles:
            return REJECT
        verdicts = [c.expected for c in self.candles]
        if REJECT in verdicts:
            return REJECT
        return ANY if ANY in verdicts else None

    def expected_rows(self) -> list[tuple[Any, ...]]:
        """The rows a valid batch stores: the first candle of each key wins."""
        first: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        for case in self.candles:
            assert isinstance(case.expected, tuple)
            first.setdefault(case.expected[:3], case.expected)
        return sorted(first.values(), key=lambda row: row[:3])


SOURCES = st.sampled_from(["absent", "null", "known", "known", "known", "junk"])
KNOWN_CLOCKS = st.sampled_from(sorted(CLOCKS))
JUNK_ZONES = st.text(max_size=300).filter(lambda text: not _is_zone(text))


@lru_cache
def _candle_lists(clock: str, min_size: int) -> st.SearchStrategy[list[CandleCase]]:
    return st.lists(candles(clock), min_size=min_size, max_size=4)


@st.composite
def _batches(draw: st.DrawFn) -> BatchCase:
    choice = draw(SOURCES)
    zone_ok, clock = True, DEFAULT_CLOCK
    body: dict[str, Any] = {}
    if choice == "null":
        body["source_tz"] = None
    elif choice == "known":
        clock = body["source_tz"] = draw(KNOWN_CLOCKS)
    elif choice == "junk":
        body["source_tz"] = draw(JUNK_ZONES)
        zone_ok = False
    cases = _in_batch_order(draw(_candle_lists(clock, 0 if choice == "junk" else 1)), clock)
    body["candles"] = [case.raw for case in cases]
    return BatchCase(body, cases, zone_ok)


def _in_batch_order(cases: list[CandleCase], clock: str) -> list[CandleCase]:
    """The cases with the instants of repeated wall times as a batch places them.

    In a repeated hour, the first pass is the earlier instant; once the batch goes back
    (a time at or before the previous wall time, or within the repeat after a later one),
    the later. After junk the service may have read as a wall time, that is left open.
    """
    previous: tuple[datetime, bool] | None = None
    vague = False
    for case in cases:
        vague = vague or case.vague
        found = instants_at(case.wall, clock) if case.wall else []
        if not found:
            continue
        later = (
            len(found) == 2
            and previous is not None
            and (
                case.wall <= previous[0]  # type: ignore[operator]
                or (previous[1] and case.wall - previous[0] < found[1] - found[0])  # type: ignore[operator]
            )
        )
        previous = (case.wall, later)  # type: ignore[assignment]
        if len(found) == 2 and isinstance(case.expected, tuple):
            if vague:
                case.expected = ANY
            elif later:
                case.expected = (*case.expected[:2], found[1], *case.expected[3:])
    return cases


def batches() -> st.SearchStrategy[BatchCase]:
    """A request body: source_tz absent, null, known or junk, and one to four candles."""
    return _batches()


def _is_zone(text: str) -> bool:
    try:
        parse_zone(text)
    except ValueError:
        return False
    return True


def to_json(value: Any) -> str:
    """JSON text with Decimals written as JSON numbers, digit for digit, as an EA writes them."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{to_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(map(to_json, value)) + "]"
    return json.dumps(value)
