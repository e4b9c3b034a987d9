"""Cache of native TensorRT engines under ``state_dir/engines``, keyed so nothing stale ever loads.

A serialized engine is only valid for the GPU it was built on (name and compute capability), the
TensorRT version that built it, its precision, its optimisation profile (min/opt/max input shapes)
and the exact model it came from: model.onnx and the files its weights may live in
(``model_digest``). All of these go into ``EngineKey``; the file name is a digest of the whole key,
so a JetPack upgrade, a new GPU or a changed model lands on a different path and the old engine is
simply never looked up again.

Each entry is two files: ``<precision>-<digest>.engine`` and a ``.json`` sidecar holding the key in
clear. Both are written to a temporary file, fsynced and renamed, the sidecar last: the sidecar is the
commit marker, so a reader that finds one also finds the complete engine next to it, and a crash
mid-build leaves at most an orphaned temporary file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from gateway.durable import fsync_path
from gateway.errors import ModelLoadError
from gateway.inference.model_config import ModelConfig
from gateway.inference.version_stamps import version_files
from gateway.private_files import make_private_directory

logger = logging.getLogger(__name__)

Precision = Literal["fp32", "fp16", "int8"]
PRECISIONS: tuple[Precision, ...] = get_args(Precision)
ENGINE_SUFFIX = ".engine"
SIDECAR_SUFFIX = ".json"
SCHEMA = 1
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class ShapeRange:
    """One input's optimisation-profile shapes, batch dimension first."""

    name: str
    minimum: tuple[int, ...]
    optimum: tuple[int, ...]
    maximum: tuple[int, ...]

    def covers(self, needed: ShapeRange) -> bool:
        """Whether every shape ``needed`` allows is inside this range."""
        if self.name != needed.name or len(self.minimum) != len(needed.minimum):
            return False
        return all(have <= want for have, want in zip(self.minimum, needed.minimum, strict=True)) and all(
            have >= want for have, want in zip(self.maximum, needed.maximum, strict=True)
        )

    @property
    def max_batch(self) -> int:
        return self.maximum[0]


@dataclass(frozen=True, slots=True)
class Device:
    """The GPU an engine is built for and the TensorRT that builds it."""

    name: str
    compute_capability: str
    """``major.minor``, e.g. ``8.7`` for Jetson Orin."""
    tensorrt_version: str


@dataclass(frozen=True, slots=True)
class EngineKey:
    device: Device
    precision: Precision
    profile: tuple[ShapeRange, ...]
    onnx_sha256: str
    """``model_digest`` of the version the engine was built from."""

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "gpu": self.device.name,
            "compute_capability": self.device.compute_capability,
            "tensorrt_version": self.device.tensorrt_version,
            "precision": self.precision,
            "profile": [
                {
                    "name": shape.name,
                    "min": list(shape.minimum),
                    "opt": list(shape.optimum),
                    "max": list(shape.maximum),
                }
                for shape in self.profile
            ],
            "onnx_sha256": self.onnx_sha256,
        }

    @classmethod
    def from_json(cls, data: Any) -> EngineKey:
        """Raises ValueError (or KeyError/TypeError) on anything that is not a key of this schema."""
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise ValueError("not an engine key of schema 1")
        precision = data["precision"]
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}")
        profile = tuple(
            ShapeRange(
                str(shape["name"]),
                tuple(int(dim) for dim in shape["min"]),
                tuple(int(dim) for dim in shape["opt"]),
                tuple(int(dim) for dim in shape["max"]),
            )
            for shape in data["profile"]
        )
        device = Device(str(data["gpu"]), str(data["compute_capability"]), str(data["tensorrt_version"]))
        return cls(device, precision, profile, str(data["onnx_sha256"]))

    def digest(self) -> str:
        canonical = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class CachedEngine:
    key: EngineKey
    path: Path


class EngineCache:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, key: EngineKey) -> Path:
        return self.root / f"{key.precision}-{key.digest()[:32]}{ENGINE_SUFFIX}"

    def get(self, key: EngineKey) -> Path | None:
        """The engine built for exactly ``key``, or None."""
        path = self.path_for(key)
        entry = self._read(path.with_suffix(SIDECAR_SUFFIX))
        return path if entry is not None and entry.key == key else None

    def find(
        self,
        device: Device,
        onnx_sha256: str,
        precisions: Sequence[Precision],
        needed: Sequence[ShapeRange],
    ) -> CachedEngine | None:
        """A cached engine for this GPU, TensorRT and ONNX file whose profile covers ``needed``;
        the first precision of ``precisions`` that has one wins, then the smallest max batch."""
        matches = [
            entry
            for entry in self.entries()
            if entry.key.device == device
            and entry.key.onnx_sha256 == onnx_sha256
            and entry.key.precision in precisions
            and _covers(entry.key.profile, needed)
        ]
        if not matches:
            return None
        return min(
            matches,
            key=lambda entry: (
                list(precisions).index(entry.key.precision),
                max(shape.max_batch for shape in entry.key.profile),
            ),
        )

    def entries(self) -> Iterator[CachedEngine]:
        """Every complete, readable entry; unreadable sidecars are logged and skipped."""
        if not self.root.is_dir():
            return
        for sidecar in sorted(self.root.glob(f"*{SIDECAR_SUFFIX}")):
            entry = self._read(sidecar)
            if entry is not None:
                yield entry

    def store(self, key: EngineKey, plan: bytes) -> Path:
        """Write the engine, then its sidecar, each atomically; returns the engine's path."""
        # The state directory and its engines folder, when made here (build-engine before a first
        # serve), are the gateway's user's alone: an engine put in by another user would be loaded.
        make_private_directory(self.root)
        path = self.path_for(key)
        _write_atomically(path, plan)
        sidecar = json.dumps(key.to_json(), indent=2, sort_keys=True).encode("utf-8") + b"\n"
        _write_atomically(path.with_suffix(SIDECAR_SUFFIX), sidecar)
        fsync_path(self.root)
        return path

    @staticmethod
    def _read(sidecar: Path) -> CachedEngine | None:
        try:
            key = EngineKey.from_json(json.loads(sidecar.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logger.warning("ignoring engine cache entry %s: %s", sidecar, exc)
            return None
        engine = sidecar.with_suffix(ENGINE_SUFFIX)
        # A sidecar whose name does not match its key was copied or edited by hand: not trusted.
        if not engine.is_file() or sidecar.name != f"{key.precision}-{key.digest()[:32]}{SIDECAR_SUFFIX}":
            logger.warning("ignoring engine cache entry %s: engine file missing or key mismatch", sidecar)
            return None
        return CachedEngine(key, engine)


def _covers(profile: Sequence[ShapeRange], needed: Sequence[ShapeRange]) -> bool:
    by_name = {shape.name: shape for shape in profile}
    return len(by_name) == len(needed) and all(
        shape.name in by_name and by_name[shape.name].covers(shape) for shape in needed
    )


def profile_for(config: ModelConfig, max_batch: int) -> tuple[ShapeRange, ...]:
    """Batch 1..``max_batch`` (optimised for ``max_batch``: batches are what a GPU is for) at the
    shapes model.yaml declares; a dynamic image size takes the preprocess size, the one camera
    frames bring. Raises ModelLoadError for any other dynamic dimension: TensorRT needs a range."""
    if max_batch < 1:
        raise ModelLoadError(f"max batch must be at least 1, got {max_batch}")
    shapes = []
    for index, tensor in enumerate(config.inputs):
        dims = list(tensor.dims)
        preprocess = config.preprocess
        if -1 in dims and index == 0 and preprocess is not None and len(dims) == 3:
            channels = 1 if preprocess.color == "GRAY" else 3
            image = (
                (channels, preprocess.height, preprocess.width)
                if preprocess.layout == "NCHW"
                else (preprocess.height, preprocess.width, channels)
            )
            dims = [image[position] if dim == -1 else dim for position, dim in enumerate(dims)]
        if -1 in dims:
            raise ModelLoadError(
                f"input {tensor.name!r} has dynamic dimensions {list(tensor.dims)}; a TensorRT engine "
                "needs fixed sizes there (declare them in model.yaml)"
            )
        shapes.append(ShapeRange(tensor.name, (1, *dims), (max_batch, *dims), (max_batch, *dims)))
    return tuple(shapes)


def model_digest(model_file: Path) -> str:
    """A digest of the model a version directory holds, for keying the engines built from it:
    ``model_file``'s SHA-256 when it is the directory's only file (so engines cached before weights
    beside it counted keep their keys), else one over every file the version's stamp counts
    (``version_stamps.version_files``: ``model.onnx.data`` among them), by relative path. Keyed by
    model.onnx alone, a version whose weights alone were replaced loaded the engine built from the
    old ones. OSError when a file cannot be read."""
    files = version_files(model_file)
    if len(files) == 1:
        return sha256_file(model_file)
    digest = hashlib.sha256()
    for relative, path in files:
        digest.update(f"{relative}\0{sha256_file(path)}\n".encode())
    return digest.hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def precisions_for(fp16: bool, int8: bool) -> tuple[Precision, ...]:
    """Engine precisions a config accepts, fastest first; fp32 is always acceptable."""
    wanted: list[Precision] = []
    if int8:
        wanted.append("int8")
    if fp16:
        wanted.append("fp16")
    wanted.append("fp32")
    return tuple(wanted)


def _write_atomically(path: Path, data: bytes) -> None:
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
