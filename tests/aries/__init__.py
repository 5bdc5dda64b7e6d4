"""Tests of the Aries wire layer (``engine.aries``)."""
