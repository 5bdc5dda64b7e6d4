"""Small runtime policies shared by the actors (backoff)."""

from engine.runtime.backoff import Backoff

__all__ = ["Backoff"]
