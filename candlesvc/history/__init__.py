"""History files: file -> rows -> candles -> encoded chunks -> the store's writer."""
