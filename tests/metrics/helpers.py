"""Reading the exposition format back, as Prometheus would."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client.parser import text_string_to_metric_families

Samples = Mapping[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of an exposition, keyed by sample name and label set.

    Raises:
        AssertionError: a series appears twice (Prometheus would reject the scrape).
    """
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
            assert key not in samples, f"duplicate series {key}"
            samples[key] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """The value of the series ``name{labels}``; ``KeyError`` if it is absent."""
    return samples[(name, frozenset(labels.items()))]


def names(samples: Samples) -> set[str]:
    """The sample names present."""
    return {name for name, _ in samples}
