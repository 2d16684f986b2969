-- The candle table. The CHECK constraints mirror the API's validation rules,
-- so the database refuses whatever the service would refuse.
CREATE TABLE IF NOT EXISTS market_data_candles (
    id          BIGSERIAL PRIMARY KEY,
    symbol      TEXT        NOT NULL,
    timeframe   TEXT        NOT NULL,
    "timestamp" TIMESTAMPTZ NOT NULL,
    open        NUMERIC     NOT NULL,
    high        NUMERIC     NOT NULL,
    low         NUMERIC     NOT NULL,
    close       NUMERIC     NOT NULL,
    volume      BIGINT      NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT market_data_candles_key UNIQUE (symbol, timeframe, "timestamp"),
    CONSTRAINT symbol_length CHECK (char_length(symbol) BETWEEN 1 AND 32),
    CONSTRAINT symbol_trimmed CHECK (symbol ~ '^[^[:space:]](.*[^[:space:]])?$'),
    CONSTRAINT symbol_printable CHECK (symbol !~ '[[:cntrl:]]'),
    CONSTRAINT timeframe_known CHECK (timeframe IN (
        'M1', 'M2', 'M3', 'M4', 'M5', 'M6', 'M10', 'M12', 'M15', 'M20', 'M30',
        'H1', 'H2', 'H3', 'H4', 'H6', 'H8', 'H12', 'D1', 'W1', 'MN1')),
    -- NaN sorts above every number and ±Infinity bound them, so these exclude all three.
    CONSTRAINT prices_finite CHECK (
        low > '-Infinity' AND high < 'Infinity'
        AND open < 'Infinity' AND close < 'Infinity'
        AND open > '-Infinity' AND close > '-Infinity'),
    CONSTRAINT low_is_lowest CHECK (low <= LEAST(open, close)),
    CONSTRAINT high_is_highest CHECK (high >= GREATEST(open, close)),
    CONSTRAINT volume_not_negative CHECK (volume >= 0),
    CONSTRAINT timestamp_in_range CHECK (
        "timestamp" >= '1970-01-01 00:00:00+00' AND "timestamp" < '2100-01-01 00:00:00+00')
);
