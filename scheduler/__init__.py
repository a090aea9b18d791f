"""Timed jobs: idempotent database sweeps with fixed ids, safe on every replica."""
