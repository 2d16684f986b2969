-- Least privilege, on Supabase as on plain PostgreSQL. Supabase's default privileges grant
-- ALL on every table and sequence that postgres creates in public to anon, authenticated
-- and service_role (TRUNCATE and setval included, which row level security does not stop),
-- so a GRANT narrows nothing: everything is revoked, then each role is given exactly what
-- it needs. The database's default privileges are left alone: they serve the user's tables.
REVOKE ALL ON market_data_candles
    FROM PUBLIC, anon, authenticated, service_role, candles_writer;
REVOKE ALL ON SEQUENCE market_data_candles_id_seq
    FROM PUBLIC, anon, authenticated, service_role, candles_writer;

-- Signed-in readers may read; anon gets nothing.
GRANT SELECT ON market_data_candles TO authenticated;

-- The writers: new rows and their ids, the conflict check, and forming-bar corrections
-- (?on_conflict=update), whose merge also reads whole rows.
GRANT SELECT, INSERT ON market_data_candles TO service_role, candles_writer;
GRANT UPDATE (open, high, low, close, volume) ON market_data_candles
    TO service_role, candles_writer;
GRANT USAGE ON SEQUENCE market_data_candles_id_seq TO service_role, candles_writer;

-- BYPASSRLS is not inherited: a login IN ROLE service_role is subject to row level security,
-- and INSERT ... ON CONFLICT needs a SELECT policy besides the INSERT one.
DROP POLICY IF EXISTS candles_read_service ON market_data_candles;
CREATE POLICY candles_read_service ON market_data_candles
    FOR SELECT TO service_role USING (true);

-- The migration ledger (candlesvc_meta.schema_migrations, made by db init) is no one's but its
-- owner's: no schema usage, no table privilege, and row level security without a policy.
REVOKE ALL ON SCHEMA candlesvc_meta FROM PUBLIC, anon, authenticated, service_role, candles_writer;
REVOKE ALL ON ALL TABLES IN SCHEMA candlesvc_meta
    FROM PUBLIC, anon, authenticated, service_role, candles_writer;
