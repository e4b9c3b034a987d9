"""The serving benchmark's mean of what a gateway histogram observed between two scrapes."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from bench.serving_load import histogram_mean

NAME = "edge_gateway_inference_queue_wait_seconds"


def test_the_mean_covers_only_what_came_between_the_scrapes_across_every_label_set() -> None:
    registry = CollectorRegistry()
    histogram = Histogram(NAME, "wait", ["model", "version"], registry=registry)
    histogram.labels("a", "1").observe(10.0)
    before = generate_latest(registry).decode()
    histogram.labels("a", "1").observe(0.030)
    histogram.labels("b", "2").observe(0.050)
    after = generate_latest(registry).decode()

    assert histogram_mean(before, after, NAME) == pytest.approx(0.040)


def test_nothing_observed_between_the_scrapes_has_no_mean() -> None:
    registry = CollectorRegistry()
    Histogram(NAME, "wait", registry=registry).observe(1.0)
    text = generate_latest(registry).decode()

    assert histogram_mean(text, text, NAME) is None
    assert histogram_mean("", "", NAME) is None
