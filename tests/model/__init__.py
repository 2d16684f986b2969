"""Tests of candlesvc.model: the candle and its time zones."""
