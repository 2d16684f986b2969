"""Tests of candlesvc.history: files, rows, the pipeline."""
