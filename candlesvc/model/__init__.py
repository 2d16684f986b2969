"""The candle: what a valid bar is, and how broker wall-clock times become instants."""
