-- Forming-bar updates (POST ?on_conflict=update): a writer may correct a stored bar's
-- values, never its key. ON CONFLICT DO UPDATE also needs the SELECT policy granted in 002.
GRANT UPDATE (open, high, low, close, volume) ON market_data_candles
    TO service_role, candles_writer;

DROP POLICY IF EXISTS candles_update_service ON market_data_candles;
CREATE POLICY candles_update_service ON market_data_candles
    FOR UPDATE TO service_role USING (true) WITH CHECK (true);

DROP POLICY IF EXISTS candles_update_writer ON market_data_candles;
CREATE POLICY candles_update_writer ON market_data_candles
    FOR UPDATE TO candles_writer USING (true) WITH CHECK (true);
