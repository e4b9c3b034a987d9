"""build/build_models.py: builds what is missing, checks hashes, and is a no-op when all is built."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.integration.vision.conftest import BUILDER


def build(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BUILDER), *arguments], capture_output=True, text=True, check=False, timeout=170
    )


def test_everything_built_is_checked_and_left_alone(built: Path) -> None:
    stamps = {path: path.stat().st_mtime_ns for path in (built / "models").glob("*/1/model.onnx")}
    completed = build()
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert [line.split(":")[1].strip() for line in lines] == ["face-detector", "yolov8n-bench", "demo-clip"]
    assert all(": ok (" in line for line in lines), lines
    assert {path: path.stat().st_mtime_ns for path in stamps} == stamps


def test_a_generated_model_is_rebuilt_when_missing_or_corrupted(tmp_path: Path) -> None:
    model = tmp_path / "models" / "yolov8n-bench" / "1" / "model.onnx"
    first = build("--root", str(tmp_path), "yolov8n-bench")
    assert first.returncode == 0, first.stderr
    assert "built models/yolov8n-bench/1/model.onnx (8.74 GFLOPs at 640)" in first.stdout
    stamp = json.loads((model.parent / ".build.json").read_text(encoding="utf-8"))
    original = model.read_bytes()

    again = build("--root", str(tmp_path), "yolov8n-bench")
    assert ": ok (" in again.stdout

    # Given a flipped byte, the hash no longer matches the stamp: the model is rebuilt, identically
    damaged = bytearray(original)
    damaged[len(damaged) // 2] ^= 0xFF
    model.write_bytes(bytes(damaged))
    repaired = build("--root", str(tmp_path), "yolov8n-bench")
    assert "built" in repaired.stdout
    assert model.read_bytes() == original
    assert json.loads((model.parent / ".build.json").read_text(encoding="utf-8")) == stamp
    assert sorted(path.name for path in model.parent.iterdir()) == [".build.json", "model.onnx"]

    # Given the stamp as earlier set-ups named it, then a build is left alone, the stamp renamed
    (model.parent / ".build.json").rename(model.parent / "build.json")
    built_at = model.stat().st_mtime_ns
    upgraded = build("--root", str(tmp_path), "yolov8n-bench")
    assert ": ok (" in upgraded.stdout, upgraded.stdout
    assert model.stat().st_mtime_ns == built_at
    assert sorted(path.name for path in model.parent.iterdir()) == [".build.json", "model.onnx"]


def test_unknown_items_are_refused() -> None:
    completed = build("person-detector")
    assert completed.returncode == 2
    assert "unknown items ['person-detector']" in completed.stderr
