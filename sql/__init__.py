"""The schema: versioned SQL files, applied in name order by `candlesvc db init`."""
