"""Response bodies of the read endpoints (their OpenAPI schemas come from these models)."""

from datetime import UTC, datetime
from decimal import Decimal

from pydantic import BaseModel, Field

from candlesvc.model.timezones import SourceZone
from candlesvc.store.reads import Bar

_EPOCH = datetime(1970, 1, 1)


class StoredCandle(BaseModel):
    """One stored bar: prices are exact decimal strings, the time is UTC."""

    timestamp: str = Field(examples=["2024-01-02T10:00:00Z"])
    open: str = Field(examples=["1.10450"])
    high: str
    low: str
    close: str
    volume: int


class Latest(BaseModel):
    """The newest stored bar of one symbol and timeframe."""

    symbol: str
    timeframe: str
    source_tz: str = Field(description="the zone server_time is given in")
    timestamp: str = Field(description="bar time in UTC, ISO 8601")
    epoch: int = Field(description="bar time as UTC epoch seconds")
    server_time: int = Field(
        description="bar time on the broker's wall clock in source_tz, as MQL5 datetime "
        "seconds: directly comparable with MqlRates.time"
    )
    candle: StoredCandle


class PairLatest(BaseModel):
    """One pair of a multi-pair answer; the bar fields are null when nothing is stored."""

    symbol: str
    timeframe: str
    timestamp: str | None = None
    epoch: int | None = None
    server_time: int | None = None
    candle: StoredCandle | None = None


class LatestPairs(BaseModel):
    """The newest stored bar of each requested pair, in request order."""

    source_tz: str
    pairs: list[PairLatest]


class CandlePage(BaseModel):
    """Bars in time order; follow next_cursor while it is not null."""

    symbol: str
    timeframe: str
    candles: list[StoredCandle]
    next_cursor: str | None = Field(
        description="pass as cursor= for the next page; null at the end"
    )


class SeriesEntry(BaseModel):
    """One stored series."""

    symbol: str
    timeframe: str
    first: str = Field(description="its first bar's time (UTC)")
    last: str = Field(description="its newest bar's time (UTC)")
    bars: int = Field(description="how many bars are stored: an exact count")
    received_at: str | None = Field(
        description="when the service last stored a new bar of it (UTC); null if unknown"
    )
    age_seconds: int = Field(description="seconds from its newest bar's time to now")


class Catalogue(BaseModel):
    """Every stored series, in symbol and timeframe order."""

    counts: str = Field(
        description="always exact: kept by the database as bars are added and removed"
    )
    series: list[SeriesEntry]


class GapEntry(BaseModel):
    """Bars missing between two consecutive stored bars."""

    after: str = Field(description="the stored bar before the gap (UTC)")
    before: str = Field(description="the stored bar after it (UTC)")
    first_missing: str = Field(description="the first missing bar's time (UTC)")
    last_missing: str = Field(description="the last missing bar's time (UTC)")
    missing: int = Field(description="how many bars are missing")


class Gaps(BaseModel):
    """Where bars are missing in one series."""

    symbol: str
    timeframe: str
    source_tz: str
    weekend: bool
    gaps: list[GapEntry]
    missing: int = Field(description="bars missing in all the gaps listed")
    truncated: bool = Field(description="true if there were more gaps than limit")


def utc_text(moment: datetime) -> str:
    """ISO 8601 in UTC with a Z, e.g. 2024-01-02T10:00:00Z."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def price_text(value: Decimal) -> str:
    """A stored price as an exact decimal string, never in exponent notation."""
    return format(value, "f")


def server_time(moment: datetime, zone: SourceZone) -> int:
    """The instant on the broker's wall clock in `zone`, as MQL5 datetime seconds."""
    return int((zone.wall_clock(moment) - _EPOCH).total_seconds())


def stored(bar: Bar) -> StoredCandle:
    """A stored bar as the API shows it."""
    return StoredCandle(
        timestamp=utc_text(bar.timestamp),
        open=price_text(bar.open),
        high=price_text(bar.high),
        low=price_text(bar.low),
        close=price_text(bar.close),
        volume=bar.volume,
    )


def bar_times(bar: Bar, zone: SourceZone) -> dict[str, str | int]:
    """A bar's time three ways: UTC text, UTC epoch seconds, and the broker's wall clock."""
    return {
        "timestamp": utc_text(bar.timestamp),
        "epoch": int(bar.timestamp.timestamp()),
        "server_time": server_time(bar.timestamp, zone),
    }
