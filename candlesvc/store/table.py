"""The candle table: its columns, and every statement that reads or writes it."""

from functools import cache

from psycopg import sql

TABLE = sql.Identifier("market_data_candles")
STAGING_NAME = "candlesvc_staging"  # per session; renamed whenever its shape changes
STAGING = sql.Identifier(STAGING_NAME)
KEY = ("symbol", "timeframe", "timestamp")
PRICES = ("open", "high", "low", "close")
VALUES = (*PRICES, "volume")
COLUMNS = (*KEY, *VALUES)  # a candle's fields, a text COPY row's fields, a stored row
BINARY_COLUMNS = (*KEY, "volume", *PRICES)  # a binary COPY row: a fixed-size head, 4 numerics
BAR = ("timestamp", *VALUES)  # what the reads return of a known series
TYPES = {
    "symbol": "text",
    "timeframe": "text",
    "timestamp": "timestamptz",
    "volume": "bigint",
    **dict.fromkeys(PRICES, "numeric"),
}


def names(columns: tuple[str, ...], table: str | None = None) -> sql.Composed:
    """A column list such as symbol, timeframe, "timestamp", each qualified by `table`."""
    if table is None:
        return sql.SQL(", ").join(map(sql.Identifier, columns))
    return sql.SQL(", ").join(sql.Identifier(table, column) for column in columns)


SELECT_ROWS = sql.SQL("SELECT {} FROM {} ORDER BY {}").format(names(COLUMNS), TABLE, names(KEY))
STAGE = sql.SQL(
    "CREATE TEMP TABLE IF NOT EXISTS {} ({}, ord bigint GENERATED ALWAYS AS IDENTITY)"
    " ON COMMIT DELETE ROWS"
).format(STAGING, sql.SQL(", ").join(sql.SQL(f'"{c}" {TYPES[c]}') for c in COLUMNS))
EMPTY_STAGING = sql.SQL("TRUNCATE {}").format(STAGING)
# The stored times of a series in a span, at most LIMIT of them, as epoch microseconds; and
# whether row level security guards the table for this role (then COPY into it is refused).
STORED_TIMES = sql.SQL(
    "SELECT row_security_active({name}::regclass), array("
    ' SELECT (extract(epoch FROM "timestamp") * 1000000)::int8 FROM {table}'
    ' WHERE symbol = %s AND timeframe = %s AND "timestamp" BETWEEN %s AND %s'
    ' ORDER BY "timestamp" LIMIT %s)'
).format(name=sql.Literal(TABLE.as_string()), table=TABLE)


def copy(into: sql.Identifier, binary: bool) -> sql.Composed:
    """COPY … FROM STDIN of text rows (always UTF-8) or binary rows, into the table or staging."""
    if binary:
        return sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(
            into, names(BINARY_COLUMNS)
        )
    return sql.SQL("COPY {} ({}) FROM STDIN (ENCODING 'UTF8')").format(into, names(COLUMNS))


def insert(rows: sql.Composable, update: bool) -> sql.Composed:
    """INSERT `rows` (a SELECT or VALUES of COLUMNS, in key order), resolving stored keys.

    Ignoring them, its row count is the rows added. Updating a stored bar whose values
    differ, unless the new one has fewer ticks (a late update of a forming bar), it
    returns one row: (added, updated).
    """
    head = sql.SQL("INSERT INTO {} AS t ({}) {} ON CONFLICT ({}) DO").format(
        TABLE, names(COLUMNS), rows, names(KEY)
    )
    if not update:
        return sql.SQL("{} NOTHING").format(head)
    return sql.SQL(
        "WITH merged AS ({} UPDATE SET ({}) = ({})"
        " WHERE ({}) IS DISTINCT FROM ({}) AND EXCLUDED.volume >= t.volume"
        " RETURNING xmax = 0 AS inserted)"
        " SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted)"
        " FROM merged"
    ).format(
        head,
        names(VALUES),
        names(VALUES, "excluded"),
        names(VALUES, "t"),
        names(VALUES, "excluded"),
    )


def staged(update: bool) -> sql.Composed:
    """The staged rows in key order: the first staged of a key to ignore, the last to update."""
    if not update:
        return sql.SQL("SELECT {} FROM {} ORDER BY {}, ord").format(
            names(COLUMNS), STAGING, names(KEY)
        )
    return sql.SQL("SELECT DISTINCT ON ({}) {} FROM {} ORDER BY {}, ord DESC").format(
        names(KEY), names(COLUMNS), STAGING, names(KEY)
    )


@cache
def values(count: int) -> sql.Composed:
    """VALUES with placeholders for `count` rows of COLUMNS."""
    row = sql.SQL("({})").format(sql.SQL(", ").join([sql.Placeholder()] * len(COLUMNS)))
    return sql.SQL("VALUES {}").format(sql.SQL(", ").join([row] * count))


# The newest bar of each (symbol, timeframe) pair, in the order asked: one backward
# index scan per pair, one round trip for all of them.
LATEST = sql.SQL(
    "SELECT {bar} FROM unnest(%(symbols)s::text[], %(timeframes)s::text[])"
    "  WITH ORDINALITY AS p(symbol, timeframe, ord)"
    " LEFT JOIN LATERAL ("
    "  SELECT {columns} FROM {table} AS m"
    "  WHERE m.symbol = p.symbol AND m.timeframe = p.timeframe"
    '  ORDER BY m."timestamp" DESC LIMIT 1'
    " ) AS c ON true ORDER BY p.ord"
).format(bar=names(BAR, "c"), columns=names(BAR, "m"), table=TABLE)
# One page of bars, oldest or newest first: an index range scan that stops after `limit` rows.
_PAGE = sql.SQL(
    "SELECT {} FROM {} WHERE symbol = %(symbol)s AND timeframe = %(timeframe)s"
    ' AND "timestamp" >= %(start)s AND "timestamp" < %(end)s'
    ' ORDER BY "timestamp" {} LIMIT %(limit)s'
)
PAGE = _PAGE.format(names(BAR), TABLE, sql.SQL("ASC"))
PAGE_BACKWARD = _PAGE.format(names(BAR), TABLE, sql.SQL("DESC"))
