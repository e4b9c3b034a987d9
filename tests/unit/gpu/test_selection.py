"""Engine choice: native TensorRT when wanted and cached, ONNX Runtime in configured order otherwise,
each fallback reason logged once; ``tensorrt_plan`` models accept nothing but TensorRT."""

from __future__ import annotations

import logging
from pathlib import Path

import onnxruntime as ort
import pytest

from gateway.config import ProviderName
from gateway.errors import ModelLoadError
from gateway.inference.engine_cache import Device, EngineCache, EngineKey, Precision, sha256_file
from gateway.inference.engines.base import EngineOptions
from gateway.inference.engines.onnx import OnnxEngine
from gateway.inference.engines.selection import EngineSelector, NativeRuntime, native_first
from gateway.inference.engines.tensorrt import INSTALL_HINT
from gateway.inference.gpu_presence import gpu_present
from gateway.inference.model_config import ModelConfig, load_model_config
from tests.support.onnx_models import write_affine_model
from tests.unit.gpu.conftest import ORIN, FakeNativeEngine, FakeTensorrt, profile

LOGGER = "gateway.inference.engines.selection"


def options_for(
    onnx_path: Path,
    cache_dir: Path,
    providers: tuple[ProviderName, ...] = ("tensorrt", "cpu"),
    *,
    fp16: bool = True,
    int8: bool = False,
    platform: str | None = None,
) -> EngineOptions:
    config = load_model_config(onnx_path.parent.parent / "model.yaml")
    if platform is not None:
        config = ModelConfig.model_validate({**config.model_dump(), "platform": platform})
    return EngineOptions(
        providers=providers, tensorrt_fp16=fp16, tensorrt_int8=int8, engine_cache_dir=cache_dir, model=config
    )


def selector(fake: FakeTensorrt, *, gpu: bool = True) -> EngineSelector:
    """The fake TensorRT stands for a GPU box; ``gpu=False`` for a box with none."""
    return EngineSelector(
        NativeRuntime(device=fake.device, load=fake.load, build=fake.build, gpu_present=lambda: gpu)
    )


def cache_engine(
    cache_dir: Path,
    onnx_path: Path,
    *,
    device: Device = ORIN,
    precision: Precision = "fp16",
    max_batch: int = 8,
) -> Path:
    key = EngineKey(device, precision, profile(max_batch), sha256_file(onnx_path))
    return EngineCache(cache_dir).store(key, b"plan")


def test_a_cached_engine_is_chosen_when_tensorrt_comes_first(
    models_root: Path, tmp_path: Path, fake_tensorrt: FakeTensorrt
) -> None:
    onnx_path = write_affine_model(models_root)
    plan = cache_engine(tmp_path / "engines", onnx_path)
    engine = selector(fake_tensorrt)(onnx_path, options_for(onnx_path, tmp_path / "engines"))
    assert isinstance(engine, FakeNativeEngine)
    assert engine.provider == "TensorRT"
    assert fake_tensorrt.loaded == [plan]


def test_without_a_cached_engine_onnx_runtime_serves_and_the_build_command_is_logged_once(
    models_root: Path, tmp_path: Path, fake_tensorrt: FakeTensorrt, caplog: pytest.LogCaptureFixture
) -> None:
    onnx_path = write_affine_model(models_root)
    choose = selector(fake_tensorrt)
    options = options_for(onnx_path, tmp_path / "engines")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        engines = [choose(onnx_path, options), choose(onnx_path, options)]
    assert all(isinstance(engine, OnnxEngine) for engine in engines)
    assert engines[0].provider == "CPUExecutionProvider"
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 1
    assert "edge-gateway build-engine --model affine:1 --fp16" in messages[0]
    assert "falling back to CPUExecutionProvider" in messages[0]
    assert fake_tensorrt.built == []
    for engine in engines:
        engine.close()


def test_without_tensorrt_the_install_hint_is_logged_once_for_all_models(
    models_root: Path, tmp_path: Path, fake_tensorrt: FakeTensorrt, caplog: pytest.LogCaptureFixture
) -> None:
    fake_tensorrt.device_value = None
    choose = selector(fake_tensorrt)
    engines = []
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        for name in ("first", "second"):
            onnx_path = write_affine_model(models_root, name)
            engines.append(choose(onnx_path, options_for(onnx_path, tmp_path / "engines")))
    assert [engine.provider for engine in engines] == ["CPUExecutionProvider"] * 2
    messages = [record.getMessage() for record in caplog.records]
    assert messages == [f"native TensorRT not used: {INSTALL_HINT}; falling back to CPUExecutionProvider"]
    for engine in engines:
        engine.close()


def test_without_a_gpu_the_fallback_is_info_not_a_warning(
    models_root: Path, tmp_path: Path, fake_tensorrt: FakeTensorrt, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a box with no GPU (and so no TensorRT): ONNX Runtime on the CPU is simply how it runs
    fake_tensorrt.device_value = None
    onnx_path = write_affine_model(models_root)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        engine = selector(fake_tensorrt, gpu=False)(onnx_path, options_for(onnx_path, tmp_path / "engines"))
    assert engine.provider == "CPUExecutionProvider"
    assert [(record.levelno, record.getMessage()) for record in caplog.records] == [
        (logging.INFO, f"native TensorRT not used: {INSTALL_HINT}; falling back to CPUExecutionProvider")
    ]
    engine.close()


def test_the_real_selector_without_tensorrt_falls_back_to_cpu(
    models_root: Path, tmp_path: Path, without_tensorrt: None, caplog: pytest.LogCaptureFixture
) -> None:
    onnx_path = write_affine_model(models_root)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        engine = EngineSelector()(onnx_path, options_for(onnx_path, tmp_path / "engines"))
    assert engine.provider == "CPUExecutionProvider"
    (record,) = caplog.records
    assert "python3-libnvinfer" in record.getMessage()
    # a warning only where this box has a GPU to use
    assert record.levelno == (logging.WARNING if gpu_present() else logging.INFO)
    assert "Traceback" not in caplog.text
    engine.close()


def test_a_provider_ahead_of_tensorrt_wins_and_tensorrt_is_not_probed(
    models_root: Path, tmp_path: Path, fake_tensorrt: FakeTensorrt
) -> None:
    onnx_path = write_affine_model(models_root)
    cache_engine(tmp_path / "engines", onnx_path)
    engine = selector(fake_tensorrt)(
        onnx_path, options_for(onnx_path, tmp_path / "engines", ("cpu", "tensorrt"))
    )
    assert engine.provider == "CPUExecutionProvider"
    assert fake_tensorrt.loaded == []
    engine.close()


MISFITS: dict[str, tuple[Device, Precision, int]] = {
    "another TensorRT": (Device("Orin", "8.7", "10.4.0"), "fp16", 8),
    "another GPU": (Device("A2", "8.6", "10.3.0"), "fp16", 8),
    "a batch range below max_batch_size": (ORIN, "fp16", 4),
    "int8 not enabled in config": (ORIN, "int8", 8),
}


@pytest.mark.parametrize("misfit", sorted(MISFITS))
def test_engines_that_do_not_fit_are_never_loaded(
    models_root: Path, tmp_path: Path, fake_tensorrt: FakeTensorrt, misfit: str
) -> None:
    device, precision, max_batch = MISFITS[misfit]
    onnx_path = write_affine_model(models_root)
    cache_engine(tmp_path / "engines", onnx_path, device=device, precision=precision, max_batch=max_batch)
    engine = selector(fake_tensorrt)(onnx_path, options_for(onnx_path, tmp_path / "engines"))
    assert engine.provider == "CPUExecutionProvider"
    assert fake_tensorrt.loaded == []
    engine.close()


def test_an_engine_of_a_changed_onnx_file_is_not_loaded(
    models_root: Path, tmp_path: Path, fake_tensorrt: FakeTensorrt
) -> None:
    onnx_path = write_affine_model(models_root, scale=2.0)
    cache_engine(tmp_path / "engines", onnx_path)
    write_affine_model(models_root, scale=3.0)  # same name and version, new weights
    engine = selector(fake_tensorrt)(onnx_path, options_for(onnx_path, tmp_path / "engines"))
    assert engine.provider == "CPUExecutionProvider"
    engine.close()


def test_fp16_engines_are_used_only_when_config_allows_fp16(
    models_root: Path, tmp_path: Path, fake_tensorrt: FakeTensorrt
) -> None:
    onnx_path = write_affine_model(models_root)
    cache_engine(tmp_path / "engines", onnx_path, precision="fp16")
    fp32_only = options_for(onnx_path, tmp_path / "engines", fp16=False)
    engine = selector(fake_tensorrt)(onnx_path, fp32_only)
    assert engine.provider == "CPUExecutionProvider"
    engine.close()
    plan = cache_engine(tmp_path / "engines", onnx_path, precision="fp32")
    native = selector(fake_tensorrt)(onnx_path, fp32_only)
    assert isinstance(native, FakeNativeEngine)
    assert native.plan == plan


def test_int8_engines_are_preferred_once_enabled(
    models_root: Path, tmp_path: Path, fake_tensorrt: FakeTensorrt
) -> None:
    onnx_path = write_affine_model(models_root)
    cache_engine(tmp_path / "engines", onnx_path, precision="fp16")
    int8 = cache_engine(tmp_path / "engines", onnx_path, precision="int8")
    engine = selector(fake_tensorrt)(onnx_path, options_for(onnx_path, tmp_path / "engines", int8=True))
    assert isinstance(engine, FakeNativeEngine)
    assert engine.plan == int8


def test_tensorrt_plan_without_tensorrt_fails_with_the_install_hint(
    models_root: Path, tmp_path: Path, without_tensorrt: None
) -> None:
    onnx_path = write_affine_model(models_root)
    options = options_for(onnx_path, tmp_path / "engines", ("cpu",), platform="tensorrt_plan")
    with pytest.raises(ModelLoadError) as raised:
        EngineSelector()(onnx_path, options)
    assert str(raised.value) == INSTALL_HINT
    assert "\n" not in str(raised.value)


def test_tensorrt_plan_builds_once_then_loads_from_the_cache(
    models_root: Path, tmp_path: Path, fake_tensorrt: FakeTensorrt
) -> None:
    onnx_path = write_affine_model(models_root)
    options = options_for(onnx_path, tmp_path / "engines", ("cpu",), platform="tensorrt_plan")
    choose = selector(fake_tensorrt)
    first, second = choose(onnx_path, options), choose(onnx_path, options)
    assert isinstance(first, FakeNativeEngine)
    assert isinstance(second, FakeNativeEngine)
    assert [(request.precision, request.profile) for request in fake_tensorrt.built] == [("fp16", profile(8))]
    assert first.plan == second.plan
    assert first.plan.read_bytes() == b"plan for fp16"
    key = EngineKey(ORIN, "fp16", profile(8), sha256_file(onnx_path))
    assert EngineCache(tmp_path / "engines").get(key) == first.plan


@pytest.mark.parametrize(
    ("providers", "offered", "expected"),
    [
        (("tensorrt", "cuda", "cpu"), {"CPUExecutionProvider"}, True),
        (("cuda", "tensorrt", "cpu"), {"CPUExecutionProvider"}, True),  # cuda unusable here
        (("cuda", "tensorrt", "cpu"), {"CUDAExecutionProvider", "CPUExecutionProvider"}, False),
        (("cpu", "tensorrt"), {"CPUExecutionProvider"}, False),
        (("cuda", "cpu"), {"CUDAExecutionProvider", "CPUExecutionProvider"}, False),
    ],
)
def test_native_first(providers: tuple[ProviderName, ...], offered: set[str], expected: bool) -> None:
    assert native_first(providers, offered) is expected


def test_native_first_asks_this_onnxruntime_by_default() -> None:
    usable_cuda = "CUDAExecutionProvider" in ort.get_available_providers()
    assert native_first(("cuda", "tensorrt")) is not usable_cuda
