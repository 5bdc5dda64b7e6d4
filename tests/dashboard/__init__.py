"""Tests of ``aries-engine run --dashboard`` (engine/dashboard)."""
