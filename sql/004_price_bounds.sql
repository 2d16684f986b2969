-- Prices as the model bounds them: below 1e20 in absolute value, at most 20 decimals.
ALTER TABLE market_data_candles DROP CONSTRAINT IF EXISTS prices_bounded;
ALTER TABLE market_data_candles ADD CONSTRAINT prices_bounded CHECK (
    abs(open) < 1e20 AND abs(high) < 1e20 AND abs(low) < 1e20 AND abs(close) < 1e20
    AND scale(open) <= 20 AND scale(high) <= 20 AND scale(low) <= 20 AND scale(close) <= 20
);
