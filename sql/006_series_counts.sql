-- Exact bar counts per series, for the series catalogue, without counting the table.
--
-- Every statement that inserts or deletes candles appends one row per series it touched:
-- the number of bars it added (or, negative, removed) and when. Rows are only ever
-- appended by writers, so concurrent writers never wait for each other here; the
-- catalogue sums them, and folds them into one row per series from time to time. Only
-- the owner may touch the table: the triggers and the catalogue's function run as it.
CREATE TABLE IF NOT EXISTS candlesvc_meta.series_counts (
    id          BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    symbol      TEXT        NOT NULL,
    timeframe   TEXT        NOT NULL,
    bars        BIGINT      NOT NULL,
    received_at TIMESTAMPTZ           -- when the statement added bars; NULL if it only removed
);
CREATE INDEX IF NOT EXISTS series_counts_series ON candlesvc_meta.series_counts (symbol, timeframe);
REVOKE ALL ON candlesvc_meta.series_counts FROM PUBLIC;
ALTER TABLE candlesvc_meta.series_counts ENABLE ROW LEVEL SECURITY;

CREATE OR REPLACE FUNCTION candlesvc_meta.count_added() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO candlesvc_meta.series_counts (symbol, timeframe, bars, received_at)
    SELECT symbol, timeframe, count(*), now() FROM added GROUP BY symbol, timeframe;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION candlesvc_meta.count_removed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO candlesvc_meta.series_counts (symbol, timeframe, bars)
    SELECT symbol, timeframe, -count(*) FROM removed GROUP BY symbol, timeframe;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION candlesvc_meta.count_emptied() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    DELETE FROM candlesvc_meta.series_counts;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS candles_counted_in ON public.market_data_candles;
CREATE TRIGGER candles_counted_in AFTER INSERT ON public.market_data_candles
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION candlesvc_meta.count_added();
DROP TRIGGER IF EXISTS candles_counted_out ON public.market_data_candles;
CREATE TRIGGER candles_counted_out AFTER DELETE ON public.market_data_candles
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT
    EXECUTE FUNCTION candlesvc_meta.count_removed();
DROP TRIGGER IF EXISTS candles_counted_empty ON public.market_data_candles;
CREATE TRIGGER candles_counted_empty AFTER TRUNCATE ON public.market_data_candles
    FOR EACH STATEMENT EXECUTE FUNCTION candlesvc_meta.count_emptied();

-- The catalogue's counts: each series' bars and when it last received a new one. Once the
-- appended rows outnumber the series fourfold, they are folded into one row per series
-- (a fold running meanwhile is left to finish alone).
CREATE OR REPLACE FUNCTION candlesvc_meta.series_counts()
RETURNS TABLE (symbol TEXT, timeframe TEXT, bars BIGINT, received_at TIMESTAMPTZ)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF (SELECT count(*) FROM candlesvc_meta.series_counts)
           > 4 * (SELECT count(DISTINCT (c.symbol, c.timeframe)) FROM candlesvc_meta.series_counts c) + 64
       AND pg_try_advisory_xact_lock(7415302) THEN
        WITH folded AS (DELETE FROM candlesvc_meta.series_counts RETURNING *)
        INSERT INTO candlesvc_meta.series_counts (symbol, timeframe, bars, received_at)
        SELECT f.symbol, f.timeframe, sum(f.bars), max(f.received_at)
        FROM folded f GROUP BY f.symbol, f.timeframe;
    END IF;
    RETURN QUERY
        SELECT c.symbol, c.timeframe, sum(c.bars)::bigint, max(c.received_at)
        FROM candlesvc_meta.series_counts c GROUP BY c.symbol, c.timeframe;
END $$;
REVOKE ALL ON FUNCTION candlesvc_meta.count_added(), candlesvc_meta.count_removed(),
    candlesvc_meta.count_emptied(), candlesvc_meta.series_counts() FROM PUBLIC;
GRANT USAGE ON SCHEMA candlesvc_meta TO service_role, candles_writer;
GRANT EXECUTE ON FUNCTION candlesvc_meta.series_counts() TO service_role, candles_writer;

-- The candles stored before these counts existed.
INSERT INTO candlesvc_meta.series_counts (symbol, timeframe, bars, received_at)
SELECT symbol, timeframe, count(*), max(created_at)
FROM public.market_data_candles GROUP BY symbol, timeframe;
