"""The engine's security promises, each proved end to end (issue 9, item 5)."""
