"""PostgreSQL: the only code that reads and writes candles, the schema and the pool."""
