"""Tests of the reference EA, mt5/CandleSync.mq5, by replaying its HTTP conversation."""
