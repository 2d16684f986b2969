"""The candle model: every rule a candle must satisfy, shared by the API and the importer."""

import re
from contextlib import suppress
from contextvars import ContextVar
from datetime import UTC, date, datetime, timedelta
from decimal import Clamped, Context, Decimal, Overflow, Rounded
from typing import Annotated, Any, Literal, Protocol, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    TypeAdapter,
    field_validator,
    model_validator,
)
from pydantic.dataclasses import dataclass

from candlesvc.model.timezones import InOrder, SourceZone, parse_zone

Timeframe = Literal[
    "M1",
    "M2",
    "M3",
    "M4",
    "M5",
    "M6",
    "M10",
    "M12",
    "M15",
    "M20",
    "M30",
    "H1",
    "H2",
    "H3",
    "H4",
    "H6",
    "H8",
    "H12",
    "D1",
    "W1",
    "MN1",
]
TIMEFRAMES: tuple[str, ...] = get_args(Timeframe)
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
_EPOCH = datetime(1970, 1, 1)
MAX_SCALE = 20  # digits after the decimal point
PRICE_LIMIT = Decimal(10) ** 20  # prices stay below 1e20 in absolute value
_NEGATIVE_LIMIT = -PRICE_LIMIT
# Rounds to 21 digits with no exponent below -MAX_SCALE (its Etiny) and no adjusted exponent
# above 19: it raises only for a price with more decimal places (Clamped if zero), of 1e20
# or more in absolute value (Overflow), or of more than 21 digits; the exact checks then
# judge it. A quarter of the cost of reading str(price).
_FAST_CHECK = Context(prec=MAX_SCALE + 1, Emin=0, Emax=19, traps=[Rounded, Clamped, Overflow]).plus
_ISO_TEXT = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
)
Price = Annotated[Decimal, Field(allow_inf_nan=False)]
Symbol = Annotated[
    str,
    StringConstraints(
        min_length=1,
        max_length=32,
        pattern=r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$",
    ),
    Field(
        description="1-32 characters; inner spaces allowed, no control characters "
        "and no leading or trailing blanks"
    ),
]
TimeframeName = Annotated[
    str,
    StringConstraints(to_upper=True, pattern=f"(?i)^(?:{'|'.join(TIMEFRAMES)})$"),
    Field(description=f"MT5 timeframe, one of {', '.join(TIMEFRAMES)}; lower case is accepted"),
]
Volume = Annotated[StrictInt, Field(ge=0, le=2**63 - 1)]
UTC_ZONE = parse_zone("UTC")
# How naive timestamps are placed, set around a batch's validation (its source zone, in
# batch order): a validator taking pydantic's context instead costs about 0.4 µs more.
_WALL_CLOCK: ContextVar["WallClock"] = ContextVar("wall_clock", default=UTC_ZONE)


# A pydantic dataclass rather than a model: building one costs about half as much, and
# the importer and the bulk endpoint build one per row.
@dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class Candle:
    """One OHLC bar as an MT5 EA or an exported history file describes it."""

    symbol: Annotated[Symbol, Field(examples=["EURUSD", "US Oil", "XAUUSD.pro"])]
    timeframe: TimeframeName
    timestamp: Annotated[
        datetime,
        Field(
            description="ISO 8601 with Z or an offset (an exact instant), or broker wall-clock "
            "time read in source_tz: ISO 8601 without offset, 'YYYY.MM.DD HH:MM[:SS]', "
            "or integer epoch seconds (MQL5 datetime)",
            json_schema_extra={"anyOf": [{"type": "string"}, {"type": "integer"}]},
        ),
    ]
    open: Price
    high: Price
    low: Price
    close: Price
    volume: Annotated[Volume, Field(description="tick volume (or real volume), an integer >= 0")]

    @field_validator("timestamp", mode="plain")
    @classmethod
    def _timestamp(cls, value: Any) -> datetime:
        if type(value) is datetime and value.tzinfo is UTC and EARLIEST <= value < LATEST:
            return value  # the importer's form, already valid: skip the general path
        return parse_timestamp(value, _WALL_CLOCK.get())

    @model_validator(mode="after")
    def _prices(self) -> "Candle":
        open_, high, low, close = self.open, self.high, self.low, self.close
        if low > open_ or low > close:
            raise ValueError("low must be <= min(open, close)")
        if high < open_ or high < close:
            raise ValueError("high must be >= max(open, close)")
        try:
            _FAST_CHECK(open_), _FAST_CHECK(high), _FAST_CHECK(low), _FAST_CHECK(close)
        except (Rounded, Clamped, Overflow):  # too large, too precise, or just long: look closer
            if high >= PRICE_LIMIT or low <= _NEGATIVE_LIMIT:  # every price lies between the two
                raise ValueError("prices must be below 1e20 in absolute value") from None
            if any(map(_too_precise, (open_, high, low, close))):
                raise ValueError(f"prices may have at most {MAX_SCALE} decimal places") from None
        return self


CANDLE = TypeAdapter(Candle)  # one candle, from a dict (validate_python) or JSON


def _too_precise(price: Decimal) -> bool:
    """More than MAX_SCALE digits after the decimal point, trailing zeros included."""
    return int(price.as_tuple().exponent) < -MAX_SCALE


class WallClock(Protocol):
    """Places naive broker wall-clock times: a zone (each time alone), or `InOrder`."""

    def to_utc(self, wall: datetime) -> datetime:
        """The UTC instant of a naive wall time; ValueError if it cannot be placed."""
        ...


def parse_timestamp(value: Any, zone: WallClock) -> datetime:
    """Read one timestamp form and return it as an aware UTC datetime."""
    if isinstance(value, bool) or not isinstance(value, (int, str, datetime)):
        raise ValueError("timestamp must be an ISO 8601 string or integer epoch seconds")
    if isinstance(value, int):
        moment = _wall_from_epoch(value)
    elif isinstance(value, str):
        moment = _parse_text(value)
    else:
        moment = value
    try:
        moment = zone.to_utc(moment) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("timestamp must fall between 1970 and 2100") from None
    if not EARLIEST <= moment < LATEST:
        raise ValueError("timestamp must fall between 1970 and 2100")
    return moment


def _wall_from_epoch(seconds: int) -> datetime:
    """MQL5 datetime: seconds since 1970 on the broker's wall clock."""
    if not 0 <= seconds < 4_102_444_800:
        raise ValueError("epoch seconds out of range (milliseconds sent by mistake?)")
    return _EPOCH + timedelta(seconds=seconds)


def _parse_text(text: str) -> datetime:
    """Parse ISO 8601 or MT5's YYYY.MM.DD HH:MM[:SS] (dates alone mean midnight)."""
    if len(text) >= 10 and text[4] == "." and text[7] == ".":
        text = f"{text[:4]}-{text[5:7]}-{text[8:]}"
    if not _ISO_TEXT.fullmatch(text):
        raise ValueError(
            "timestamp must be ISO 8601 (2024-01-02T10:00:00Z, at most microseconds, an offset "
            "of ±HH:MM) or 'YYYY.MM.DD HH:MM[:SS]'"
        )
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time())
        return datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            "timestamp must be ISO 8601 (2024-01-02T10:00:00Z) or 'YYYY.MM.DD HH:MM[:SS]'"
        ) from None


class CandleBatch(BaseModel):
    """The body of POST /api/v1/candles."""

    model_config = ConfigDict(extra="forbid")

    source_tz: str | None = Field(
        default=None,
        description="Time zone of timestamps sent without an offset: an IANA name, "
        "a fixed offset such as +02:00, or NY+7. Defaults to the service's SOURCE_TZ.",
        examples=["NY+7", "Europe/Athens", "+02:00"],
    )
    candles: list[Candle] = Field(min_length=1)

    @field_validator("source_tz")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            parse_zone(value)
        return value


class IngestResult(BaseModel):
    """What a successful POST stored."""

    received: int = Field(description="candles in the batch")
    records_added: int = Field(description="new rows stored")
    records_updated: int | None = Field(
        default=None, description="stored rows whose values changed (on_conflict=update only)"
    )
    duplicates: int = Field(description="candles that changed nothing: stored as sent or repeated")


def validate_batch(data: Any, default_zone: SourceZone) -> CandleBatch:
    """Validate a decoded request body, reading naive times in its source_tz or the default.

    Naive times are placed in batch order, as the importer places a file's rows: where a
    DST change repeats an hour, the first pass is the earlier instant (`InOrder`).
    """
    zone = default_zone
    if isinstance(data, dict) and isinstance(data.get("source_tz"), str):
        with suppress(ValueError):  # an invalid source_tz is reported by the model itself
            zone = parse_zone(data["source_tz"])
    token = _WALL_CLOCK.set(InOrder(zone))
    try:
        return CandleBatch.model_validate(data)
    finally:
        _WALL_CLOCK.reset(token)
