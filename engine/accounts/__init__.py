"""Account state: the pure ``AccountBook`` and the ``AccountActor`` that drives it."""
