"""candlesvc: ingest MetaTrader 5 OHLC candles into PostgreSQL."""

__version__ = "0.1.0"
