"""Benchmark of candlesvc ingestion against the database's own COPY limit."""
