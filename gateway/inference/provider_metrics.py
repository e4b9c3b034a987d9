"""``edge_gateway_model_provider_info``: which provider actually runs each loaded model version.

Computed at scrape time from the repository's statuses, so it can never disagree with
``/v2/models/{name}`` (hot reload, fallback from TensorRT to ONNX Runtime and unloads included).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from gateway.domain import ModelVersionStatus

NAME = "edge_gateway_model_provider_info"
HELP = "1 for the execution provider running each ready model version (TensorRT = native engine)."
LABELS = ("model", "version", "provider")


class ProviderCollector(Collector):
    def __init__(self, statuses: Callable[[], Sequence[ModelVersionStatus]]) -> None:
        self._statuses = statuses

    def describe(self) -> Iterable[GaugeMetricFamily]:
        # Declared without samples, so registering does not call into the repository.
        return [GaugeMetricFamily(NAME, HELP, labels=LABELS)]

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily(NAME, HELP, labels=LABELS)
        for status in self._statuses():
            if status.provider is not None:
                family.add_metric([status.name, str(status.version), status.provider], 1.0)
        return [family]
