-- Row level security with Supabase's roles. On a plain PostgreSQL the roles are
-- created (NOLOGIN) so the same file runs on Supabase and locally.
DO $$
DECLARE
    r TEXT;
BEGIN
    FOREACH r IN ARRAY ARRAY['anon', 'authenticated', 'service_role', 'candles_writer'] LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
        END IF;
    END LOOP;
END
$$;

ALTER TABLE market_data_candles ENABLE ROW LEVEL SECURITY;

-- The Supabase service key may insert; signed-in readers may read; anon gets nothing.
DROP POLICY IF EXISTS candles_insert_service ON market_data_candles;
CREATE POLICY candles_insert_service ON market_data_candles
    FOR INSERT TO service_role WITH CHECK (true);

DROP POLICY IF EXISTS candles_read_authenticated ON market_data_candles;
CREATE POLICY candles_read_authenticated ON market_data_candles
    FOR SELECT TO authenticated USING (true);

-- candles_writer is the least-privilege group role for a dedicated ingest login:
--   CREATE ROLE candlesvc_ingest LOGIN PASSWORD '...' IN ROLE candles_writer;
DROP POLICY IF EXISTS candles_insert_writer ON market_data_candles;
CREATE POLICY candles_insert_writer ON market_data_candles
    FOR INSERT TO candles_writer WITH CHECK (true);

DROP POLICY IF EXISTS candles_read_writer ON market_data_candles;
CREATE POLICY candles_read_writer ON market_data_candles
    FOR SELECT TO candles_writer USING (true);

REVOKE ALL ON market_data_candles FROM anon;
GRANT SELECT ON market_data_candles TO authenticated;
GRANT SELECT, INSERT ON market_data_candles TO service_role, candles_writer;
GRANT USAGE ON SEQUENCE market_data_candles_id_seq TO service_role, candles_writer;
