"""Read endpoints: the newest bar per pair, bars in time order (JSON or CSV), series, gaps."""

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, Response, jsonify, request

from candlesvc.model.candle import EARLIEST, LATEST
from candlesvc.model.timezones import SourceZone, parse_zone
from candlesvc.service.answers import (
    CandlePage,
    Catalogue,
    GapEntry,
    Gaps,
    Latest,
    LatestPairs,
    PairLatest,
    SeriesEntry,
    bar_times,
    stored,
    utc_text,
)
from candlesvc.service.context import database, settings
from candlesvc.service.problems import RejectedError, problem
from candlesvc.service.queries import (
    GapsQuery,
    LatestPairsQuery,
    LatestQuery,
    ListQuery,
    SeriesQuery,
    decode_cursor,
    encode_cursor,
    parse_query,
)
from candlesvc.store import reads, series

bp = Blueprint("reads", __name__)
_TICK = timedelta(microseconds=1)  # the finest time a bar can have
CSV_COLUMNS = ("symbol", "timeframe", "timestamp", "open", "high", "low", "close", "volume")


@bp.get("/api/v1/candles/latest")
def latest() -> Response:
    """The newest stored bar of symbol= and timeframe= (404 if none), or of each pair=."""
    if "pair" in request.args:
        return _latest_pairs()
    query = parse_query(LatestQuery, request.args.to_dict())
    zone = _zone(query.source_tz)
    with database() as conn:
        bar = reads.latest(conn, [(query.symbol, query.timeframe)])[0]
    if bar is None:
        raise RejectedError(problem(404, f"no candles stored for {query.symbol} {query.timeframe}"))
    found: dict[str, Any] = {
        "symbol": query.symbol,
        "timeframe": query.timeframe,
        "source_tz": zone.name,
    }
    found |= bar_times(bar, zone) | {"candle": stored(bar)}
    return jsonify(Latest.model_validate(found).model_dump())


def _latest_pairs() -> Response:
    args = {k: v for k, v in request.args.items() if k != "pair"}
    query = parse_query(LatestPairsQuery, args | {"pair": request.args.getlist("pair")})
    zone = _zone(query.source_tz)
    with database() as conn:
        bars = reads.latest(conn, query.pair)
    pairs = [
        PairLatest.model_validate(
            {"symbol": symbol, "timeframe": timeframe}
            | ({**bar_times(bar, zone), "candle": stored(bar)} if bar else {})
        )
        for (symbol, timeframe), bar in zip(query.pair, bars, strict=True)
    ]
    return jsonify(LatestPairs(source_tz=zone.name, pairs=pairs).model_dump())


@bp.get("/api/v1/candles")
def candles() -> Response:
    """Bars of one symbol and timeframe in time order (or newest first), a page at a time."""
    query = parse_query(ListQuery, request.args.to_dict())
    start, end = query.start or EARLIEST, query.end or LATEST
    backward = query.order == "desc"
    if query.cursor:  # the page continues after (or, backward, before) the cursor's bar
        last = decode_cursor(query.cursor)
        end, start = (min(end, last), start) if backward else (end, max(start, last + _TICK))
    with database() as conn:
        bars = reads.page(
            conn, query.symbol, query.timeframe, start, end, query.limit + 1, backward
        )
    more = len(bars) > query.limit
    cursor = encode_cursor(bars[query.limit - 1].timestamp) if more else None
    page = CandlePage(
        symbol=query.symbol,
        timeframe=query.timeframe,
        candles=[stored(bar) for bar in bars[: query.limit]],
        next_cursor=cursor,
    )
    response = _csv(page) if _wants_csv(query) else jsonify(page.model_dump())
    response.vary.add("Accept")
    return response


@bp.get("/api/v1/series")
def catalogue() -> Response:
    """Every stored series: first and last bar, exact bar count, last new bar's arrival."""
    query = parse_query(SeriesQuery, request.args.to_dict())
    with database() as conn:
        found = series.catalogue(conn, query.symbol, query.timeframe)
    now = datetime.now(UTC)
    entries = [
        SeriesEntry(
            symbol=s.symbol,
            timeframe=s.timeframe,
            first=utc_text(s.first),
            last=utc_text(s.last),
            bars=s.bars,
            received_at=utc_text(s.received_at) if s.received_at else None,
            age_seconds=int((now - s.last).total_seconds()),
        )
        for s in found
    ]
    return jsonify(Catalogue(counts="exact", series=entries).model_dump())


@bp.get("/api/v1/series/gaps")
def gaps() -> Response:
    """Where bars are missing in one series: consecutive bars further apart than due."""
    query = parse_query(GapsQuery, request.args.to_dict())
    zone = _zone(query.source_tz)
    span = (query.start or EARLIEST, query.end or LATEST)
    with database() as conn:
        found, truncated = series.gaps(
            conn,
            query.symbol,
            query.timeframe,
            span,
            zone,
            query.weekend,
            query.min_missing,
            query.limit,
        )
    listed = [
        GapEntry(
            after=utc_text(g.after),
            before=utc_text(g.before),
            first_missing=utc_text(g.first),
            last_missing=utc_text(g.last),
            missing=g.missing,
        )
        for g in found
    ]
    answer = Gaps(
        symbol=query.symbol,
        timeframe=query.timeframe,
        source_tz=zone.name,
        weekend=query.weekend,
        gaps=listed,
        missing=sum(g.missing for g in listed),
        truncated=truncated,
    )
    return jsonify(answer.model_dump())


def _wants_csv(query: ListQuery) -> bool:
    if query.format:
        return query.format == "csv"
    offered = ["application/json", "text/csv"]
    return request.accept_mimetypes.best_match(offered, "application/json") == "text/csv"


def _csv(page: CandlePage) -> Response:
    """The page as CSV with a header row; the next cursor travels in X-Next-Cursor."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for c in page.candles:
        writer.writerow(
            [page.symbol, page.timeframe, c.timestamp, c.open, c.high, c.low, c.close, c.volume]
        )
    response = Response(out.getvalue(), 200, mimetype="text/csv")
    if page.next_cursor:
        response.headers["X-Next-Cursor"] = page.next_cursor
    return response


def _zone(name: str | None) -> SourceZone:
    return parse_zone(name) if name else settings().source_zone
