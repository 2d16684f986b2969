"""Query parameters of the read endpoints, validated into 422 problems that name each one."""

import base64
import binascii
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from candlesvc.model.candle import (
    EARLIEST,
    LATEST,
    UTC_ZONE,
    Symbol,
    TimeframeName,
    parse_timestamp,
)
from candlesvc.model.timezones import parse_zone
from candlesvc.service.problems import RejectedError, field_errors, problem

MAX_LIMIT = 10_000
MAX_PAIRS = 100
Query = TypeVar("Query", bound=BaseModel)


def instant(value: Any) -> datetime:
    """Read a query time: ISO 8601 with Z or an offset, or integer epoch seconds (UTC)."""
    if isinstance(value, str) and value.isdigit():
        return parse_timestamp(int(value), UTC_ZONE)
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueError("must be ISO 8601 (2024-01-02T10:00:00Z) or epoch seconds") from None
    if moment.tzinfo is None:
        raise ValueError("needs Z or a UTC offset, e.g. 2024-01-02T10:00:00Z")
    return parse_timestamp(moment, UTC_ZONE)


def split_pair(value: Any) -> Any:
    """Split SYMBOL:TIMEFRAME at its last ':' (a timeframe never contains one)."""
    if isinstance(value, str):
        if ":" not in value:
            raise ValueError("must be SYMBOL:TIMEFRAME, e.g. EURUSD:M1")
        return tuple(value.rsplit(":", 1))
    return value


def check_zone(value: str | None) -> str | None:
    """Refuse a source_tz that parse_zone cannot read."""
    if value is not None:
        parse_zone(value)
    return value


Zone = Annotated[str | None, AfterValidator(check_zone)]
ZONE_FIELD = Field(
    default=None,
    description="zone of the broker's wall clock for server_time: an IANA name, an offset "
    "such as +03:00, or NY+7; defaults to the service's SOURCE_TZ",
    examples=["NY+7", "+03:00"],
)
Pair = Annotated[
    tuple[Symbol, TimeframeName], BeforeValidator(split_pair, json_schema_input_type=str)
]
QueryTime = Annotated[datetime, PlainValidator(instant, json_schema_input_type=str)]


class LatestQuery(BaseModel):
    """Parameters of GET /api/v1/candles/latest for one symbol and timeframe."""

    model_config = ConfigDict(extra="forbid")

    symbol: Symbol
    timeframe: TimeframeName
    source_tz: Zone = ZONE_FIELD


class LatestPairsQuery(BaseModel):
    """Parameters of GET /api/v1/candles/latest for several symbol:timeframe pairs."""

    model_config = ConfigDict(extra="forbid")

    pair: list[Pair] = Field(
        min_length=1,
        max_length=MAX_PAIRS,
        description=f"SYMBOL:TIMEFRAME, repeated up to {MAX_PAIRS} times; split at the last ':'",
        examples=[["EURUSD:M1", "US Oil:H1"]],
    )
    source_tz: Zone = ZONE_FIELD


class Span(BaseModel):
    """A time span of a query: from (inclusive) and to (exclusive), to later than from."""

    model_config = ConfigDict(extra="forbid")

    start: QueryTime | None = Field(
        default=None,
        alias="from",
        description="from this bar time, inclusive: ISO 8601 with Z or an offset, or epoch "
        "seconds (UTC)",
    )
    end: QueryTime | None = Field(
        default=None,
        alias="to",
        description="up to this time, exclusive, in the same forms",
    )

    @field_validator("end")
    @classmethod
    def _after_start(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        start = info.data.get("start")
        if value is not None and start is not None and value <= start:
            raise ValueError("must be later than from")
        return value


class ListQuery(Span):
    """Parameters of GET /api/v1/candles."""

    symbol: Symbol
    timeframe: TimeframeName
    limit: int = Field(default=1000, ge=1, le=MAX_LIMIT, description="most bars in one page")
    cursor: str | None = Field(default=None, description="next_cursor of the previous page")
    format: Literal["json", "csv"] | None = Field(
        default=None, description="json or csv; without it, the Accept header chooses"
    )
    order: Literal["asc", "desc"] = Field(
        default="asc",
        description="asc: the oldest bars first, paging forward; desc: the newest first, "
        "paging back in time",
    )

    @field_validator("cursor")
    @classmethod
    def _cursor(cls, value: str | None) -> str | None:
        if value is not None:
            decode_cursor(value)
        return value


class SeriesQuery(BaseModel):
    """Parameters of GET /api/v1/series."""

    model_config = ConfigDict(extra="forbid")

    symbol: Symbol | None = Field(default=None, description="only this symbol's series")
    timeframe: TimeframeName | None = Field(default=None, description="only this timeframe")


class GapsQuery(Span):
    """Parameters of GET /api/v1/series/gaps."""

    symbol: Symbol
    timeframe: TimeframeName
    source_tz: Zone = Field(
        default=None,
        description="the broker's clock, on which bars open (default: the service's "
        "SOURCE_TZ): an IANA name, an offset such as +02:00, or NY+7",
    )
    weekend: bool = Field(
        default=False,
        description="true: no bars are due from Saturday 00:00 to Monday 00:00 on the "
        "broker's clock (with NY+7, the FX week's close); W1 and MN1 bars are always due",
    )
    min_missing: int = Field(
        default=1, ge=1, le=10**9, description="report only gaps of at least this many bars"
    )
    limit: int = Field(default=1000, ge=1, le=MAX_LIMIT, description="most gaps reported")


def encode_cursor(last: datetime) -> str:
    """An opaque token for the page that follows the bar at `last`."""
    return base64.urlsafe_b64encode(last.isoformat().encode()).decode()


def decode_cursor(token: str) -> datetime:
    """The time of the last bar of the page a cursor follows."""
    try:
        last = datetime.fromisoformat(base64.urlsafe_b64decode(token.encode()).decode())
        if last.tzinfo is None or not EARLIEST <= last < LATEST:
            raise ValueError
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError):
        raise ValueError("not a cursor this service issued") from None
    return last


def parse_query(model: type[Query], args: dict[str, Any]) -> Query:
    """Validate query parameters, or raise a 422 problem that names each bad one."""
    try:
        return model.model_validate(args)
    except ValidationError as error:
        errors = field_errors(error)
        detail = f"{error.error_count()} invalid query parameter(s)"
        raise RejectedError(problem(422, detail, errors=errors)) from None
