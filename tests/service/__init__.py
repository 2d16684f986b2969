"""Tests of candlesvc.service: the endpoints through Flask's test client, on real PostgreSQL."""
