"""Tests of candlesvc.store, on real PostgreSQL (and a Supabase-shaped one)."""
