"""The serving benchmarks' request and config: what the gateway parses and accepts."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.shipped_model import ShippedModel, gateway_config, scratch_repository
from gateway.api.tensors import parse_infer_request
from gateway.config import GatewayConfig


def test_the_request_carries_one_seeded_item_with_dynamic_dimensions_at_the_size_asked() -> None:
    model = ShippedModel.named("yolov8n-bench")
    request = model.request(160)
    assert request.path == "/v2/models/yolov8n-bench/infer"
    parsed = parse_infer_request(request.body, request.headers["Inference-Header-Content-Length"])
    assert parsed.inputs["images"].shape == (1, 3, 160, 160)
    assert np.array_equal(parsed.inputs["images"], model.item(160))
    assert request.body == ShippedModel.named("yolov8n-bench").request(160).body


def test_the_scratch_config_serves_the_linked_model_with_overrides(tmp_path: Path) -> None:
    model = ShippedModel.named("face-detector")
    model.link_into(scratch_repository(tmp_path))
    config = GatewayConfig.model_validate(gateway_config(tmp_path, worker_nice=3))
    assert (config.models.repository / "face-detector" / "model.yaml").is_file()
    assert config.inference.providers == ("cpu",)
    assert config.inference.worker_nice == 3
    assert config.models.preload == "all"
    assert config.state_dir == tmp_path / "state"
