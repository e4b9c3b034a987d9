"""Engine cache keying: every part of the key moves the path, equal inputs give the same path, and
nothing built for another GPU, TensorRT, precision, profile or ONNX file is ever found."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from gateway.errors import ModelLoadError
from gateway.inference.engine_cache import (
    Device,
    EngineCache,
    EngineKey,
    ShapeRange,
    model_digest,
    precisions_for,
    profile_for,
    sha256_file,
)
from gateway.inference.model_config import ModelConfig
from tests.unit.gpu.conftest import ORIN, profile

KEY = EngineKey(ORIN, "fp16", profile(8), "a" * 64)

VARIANTS = {
    "gpu name": dataclasses.replace(KEY, device=Device("Orin NX", "8.7", "10.3.0")),
    "compute capability": dataclasses.replace(KEY, device=Device("Orin", "8.6", "10.3.0")),
    "tensorrt version": dataclasses.replace(KEY, device=Device("Orin", "8.7", "10.4.0")),
    "precision": dataclasses.replace(KEY, precision="fp32"),
    "profile max batch": dataclasses.replace(KEY, profile=profile(16)),
    "profile shape": dataclasses.replace(KEY, profile=profile(8, dims=(5,))),
    "profile optimum": dataclasses.replace(KEY, profile=(ShapeRange("INPUT0", (1, 4), (4, 4), (8, 4)),)),
    "input name": dataclasses.replace(KEY, profile=profile(8, name="images")),
    "onnx sha256": dataclasses.replace(KEY, onnx_sha256="b" * 64),
}


def test_equal_keys_give_the_same_path(tmp_path: Path) -> None:
    # Given two keys built separately from the same parts
    twin = EngineKey(Device("Orin", "8.7", "10.3.0"), "fp16", profile(8), "a" * 64)
    # Then they name the same file, in this cache and in a fresh one on the same directory
    assert EngineCache(tmp_path).path_for(twin) == EngineCache(tmp_path).path_for(KEY)


@pytest.mark.parametrize("part", sorted(VARIANTS))
def test_every_key_part_changes_the_path(tmp_path: Path, part: str) -> None:
    cache = EngineCache(tmp_path)
    assert cache.path_for(VARIANTS[part]) != cache.path_for(KEY)


def test_all_variant_paths_are_distinct(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    paths = {cache.path_for(key) for key in [KEY, *VARIANTS.values()]}
    assert len(paths) == len(VARIANTS) + 1


def test_store_writes_engine_and_sidecar_and_get_finds_exactly_that_key(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path / "engines")
    path = cache.store(KEY, b"serialized engine")
    assert path.read_bytes() == b"serialized engine"
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["gpu"] == "Orin"
    assert sidecar["compute_capability"] == "8.7"
    assert sidecar["tensorrt_version"] == "10.3.0"
    assert sidecar["precision"] == "fp16"
    assert sidecar["profile"] == [{"name": "INPUT0", "min": [1, 4], "opt": [8, 4], "max": [8, 4]}]
    assert sidecar["onnx_sha256"] == "a" * 64
    assert EngineKey.from_json(sidecar) == KEY
    assert cache.get(KEY) == path
    for variant in VARIANTS.values():
        assert cache.get(variant) is None
    # No temporary files are left behind by the atomic writes.
    assert sorted(entry.name for entry in path.parent.iterdir()) == sorted([path.name, f"{path.stem}.json"])


def test_an_upgrade_or_model_change_finds_nothing_stale(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    cache.store(KEY, b"old")
    upgraded = Device("Orin", "8.7", "10.4.0")
    assert cache.find(upgraded, KEY.onnx_sha256, ("fp16", "fp32"), profile(8)) is None
    assert cache.find(ORIN, "c" * 64, ("fp16", "fp32"), profile(8)) is None
    found = cache.find(ORIN, KEY.onnx_sha256, ("fp16", "fp32"), profile(8))
    assert found is not None
    assert found.key == KEY


def test_find_needs_a_profile_covering_the_model_and_an_accepted_precision(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    cache.store(KEY, b"batch 8 fp16")
    assert cache.find(ORIN, KEY.onnx_sha256, ("fp16",), profile(16)) is None  # batch 16 not covered
    assert cache.find(ORIN, KEY.onnx_sha256, ("fp32",), profile(8)) is None  # fp16 not accepted
    assert cache.find(ORIN, KEY.onnx_sha256, ("fp16",), profile(4)) is not None  # batch 4 is inside 8


def test_find_prefers_the_first_precision_then_the_smallest_engine(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    fp32 = dataclasses.replace(KEY, precision="fp32")
    big = dataclasses.replace(KEY, profile=profile(32))
    for key in (fp32, big, KEY):
        cache.store(key, key.precision.encode())
    found = cache.find(ORIN, KEY.onnx_sha256, ("fp16", "fp32"), profile(8))
    assert found is not None
    assert found.key == KEY
    found = cache.find(ORIN, KEY.onnx_sha256, ("fp32", "fp16"), profile(8))
    assert found is not None
    assert found.key == fp32


def test_a_sidecar_without_its_engine_or_with_garbage_is_ignored(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    path = cache.store(KEY, b"engine")
    os.unlink(path)
    assert cache.get(KEY) is None
    (tmp_path / "fp16-garbage.json").write_text("{not json")
    (tmp_path / "fp16-other.json").write_text(json.dumps({"schema": 99}))
    assert list(cache.entries()) == []


def test_a_sidecar_renamed_onto_another_key_is_not_trusted(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    other = VARIANTS["tensorrt version"]
    path = cache.store(KEY, b"engine")
    # Someone copies an engine+sidecar under the name another key would use.
    target = cache.path_for(other)
    os.rename(path, target)
    os.rename(path.with_suffix(".json"), target.with_suffix(".json"))
    assert cache.get(other) is None
    assert list(cache.entries()) == []


def test_profile_for_fixed_inputs_and_the_preprocess_size_for_dynamic_images() -> None:
    fixed = ModelConfig.model_validate(
        {"inputs": [{"name": "x", "dims": [3, 4]}], "outputs": [{"name": "y", "dims": [2]}]}
    )
    assert profile_for(fixed, 8) == (ShapeRange("x", (1, 3, 4), (8, 3, 4), (8, 3, 4)),)
    dynamic = ModelConfig.model_validate(
        {
            "inputs": [{"name": "images", "dims": [3, -1, -1]}],
            "outputs": [{"name": "out", "dims": [84, -1]}],
            "preprocess": {"width": 640, "height": 480},
        }
    )
    assert profile_for(dynamic, 4) == (
        ShapeRange("images", (1, 3, 480, 640), (4, 3, 480, 640), (4, 3, 480, 640)),
    )


def test_profile_for_rejects_dynamic_dimensions_it_cannot_size() -> None:
    config = ModelConfig.model_validate(
        {"inputs": [{"name": "tokens", "dims": [-1]}], "outputs": [{"name": "y", "dims": [2]}]}
    )
    with pytest.raises(ModelLoadError, match="'tokens' has dynamic dimensions"):
        profile_for(config, 8)


def test_precisions_accepted_by_config() -> None:
    assert precisions_for(fp16=True, int8=False) == ("fp16", "fp32")
    assert precisions_for(fp16=False, int8=False) == ("fp32",)
    assert precisions_for(fp16=True, int8=True) == ("int8", "fp16", "fp32")


def test_sha256_file_changes_with_one_byte(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"\0" * 3_000_000)
    before = sha256_file(path)
    path.write_bytes(b"\0" * 2_999_999 + b"\1")
    assert sha256_file(path) != before
    assert len(before) == 64


def test_model_digest_of_a_lone_model_file_is_its_sha256(tmp_path: Path) -> None:
    # Engines cached before the files beside model.onnx counted keep their keys
    path = tmp_path / "1" / "model.onnx"
    path.parent.mkdir()
    path.write_bytes(b"graph")
    assert model_digest(path) == sha256_file(path)


def test_model_digest_changes_with_the_weights_beside_the_graph_alone(tmp_path: Path) -> None:
    # Given a version whose weights are external data beside model.onnx
    path = tmp_path / "1" / "model.onnx"
    path.parent.mkdir()
    path.write_bytes(b"graph")
    (path.parent / "model.onnx.data").write_bytes(b"old weights")
    (path.parent / ".model.onnx.data.tmp").write_bytes(b"an upload")
    before = model_digest(path)
    assert before != sha256_file(path)
    # When only the weights are replaced, the key of the engine built from them changes
    (path.parent / "model.onnx.data").write_bytes(b"new weights")
    assert model_digest(path) != before
    # And a hidden staging file, which the version's stamp skips too, is no part of it
    (path.parent / ".model.onnx.data.tmp").unlink()
    (path.parent / "model.onnx.data").write_bytes(b"old weights")
    assert model_digest(path) == before
