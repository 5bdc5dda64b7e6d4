"""The engine's internal event bus."""

from engine.bus._bus import EventBus, Subscription, SubscriptionStatistics

__all__ = ["EventBus", "Subscription", "SubscriptionStatistics"]
