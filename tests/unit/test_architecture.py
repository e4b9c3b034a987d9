"""The part rules of DESIGN.md ("Which part may import which"), checked on the source tree.

Each module of ``gateway`` belongs to a part: its first package under ``gateway/`` (``gateway/rules/
engine.py`` -> ``rules``) or, for a top-level module, its own name (``gateway/pipeline.py`` ->
``pipeline``). A part may import only the parts its row names; wiring parts (``None``) may import
anything. Third-party libraries stay in their rooms. A part missing from the table fails the test,
so a new package is classified on purpose rather than by accident.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE_ROOT = Path(__file__).resolve().parents[2] / "gateway"

NEUTRAL = frozenset(
    {
        "domain",
        "durable",
        "enrolled_file",
        "errors",
        "image_format",
        "image_shrink",
        "outline_pixels",
        "positions",
        "printable",
        "private_files",
        "sqlite_types",
        "suggestions",
        "thread_limit",
        "url_credentials",
        "wording",
    }
)
"""Modules that import nothing of ours, so that any part may import them."""
CONFIGURED = NEUTRAL | {"config", "protocol"}

PARTS: Mapping[str, frozenset[str] | None] = {
    "domain": frozenset(),
    "durable": frozenset(),
    "enrolled_file": frozenset(),
    "errors": frozenset(),
    "image_format": frozenset(),
    "image_shrink": frozenset(),
    "outline_pixels": frozenset(),
    "positions": frozenset(),
    "printable": frozenset(),
    "private_files": frozenset(),
    "sqlite_types": frozenset(),
    "suggestions": frozenset(),
    "thread_limit": frozenset(),
    "url_credentials": frozenset(),
    "wording": frozenset(),
    "config": NEUTRAL,
    "config_edit": NEUTRAL | {"config"},
    "tracking": NEUTRAL,
    "rules": NEUTRAL,
    "anomaly": NEUTRAL,
    "protocol": NEUTRAL | {"config"},
    "sqlite_open": frozenset(),
    "sqlite_file": NEUTRAL,
    "heap": frozenset(),
    "open_files": frozenset(),
    "garbage_collection": frozenset(),
    "ingest": CONFIGURED | {"open_files"},
    "inference": CONFIGURED | {"heap", "open_files"},
    "delivery": CONFIGURED | {"sqlite_open", "sqlite_file", "open_files"},
    "audit": CONFIGURED | {"sqlite_open", "sqlite_file", "web"},
    "api": CONFIGURED | {"web"},
    "web": NEUTRAL | {"protocol"},
    "decider": NEUTRAL | {"rules", "tracking", "commit_queue"},
    "commit_queue": NEUTRAL,
    # Wiring: the places that put the parts together.
    "pipeline": None,
    "enroll": None,
    "commands": None,
    "cli": None,
    "systemd": None,
    "__main__": None,
    "__init__": None,
}

LIBRARY_ROOMS: Mapping[str, tuple[str, ...]] = {
    "onnxruntime": ("inference.engines",),
    "tensorrt": ("inference.engines",),
    "cuda": ("inference.engines",),
    "pycuda": ("inference.engines",),
    "paho": ("delivery", "audit", "protocol"),
    "aiohttp": ("api", "audit", "web"),
    "uvloop": ("api.event_loop",),
    "argparse": ("cli", "commands"),
    "av": ("ingest",),
}
"""Top-level library -> the module prefixes (below ``gateway.``) that may import it."""

CALL_ROOMS: Mapping[str, tuple[str, ...]] = {
    "cv2.VideoCapture": ("ingest",),
    "logging.basicConfig": ("cli",),
    "logging.config": ("cli",),
}
"""Attribute uses that stay in one room: capture in ingest, logging set-up in the CLI."""


@dataclass(frozen=True, slots=True)
class Violation:
    module: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.module}:{self.line}: {self.message}"


def module_name(root: Path, path: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)


def part_of(module: str) -> str:
    return module.split(".")[1] if "." in module else "__init__"


def _imports(tree: ast.Module, module: str, is_package: bool) -> Iterator[tuple[str, int]]:
    package = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            if "." in target:
                yield target, node.lineno
            else:  # ``from gateway import audit`` names the part in the alias
                for alias in node.names:
                    yield f"{target}.{alias.name}", node.lineno


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return f"{inner}.{node.attr}" if inner is not None else None
    return None


def _in_room(module: str, rooms: tuple[str, ...]) -> bool:
    local = module.partition(".")[2]
    return any(local == room or local.startswith(f"{room}.") for room in rooms)


def check_tree(root: Path) -> list[Violation]:
    """Every break of the part rules under the package directory ``root``."""
    violations: list[Violation] = []
    for path in sorted(root.rglob("*.py")):
        module = module_name(root, path)
        part = part_of(module)
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        if part not in PARTS:
            violations.append(Violation(module, 1, f"part {part!r} is not in the part table"))
            continue
        allowed = PARTS[part]
        for target, line in _imports(tree, module, path.name == "__init__.py"):
            top = target.split(".")[0]
            if top == root.name and "." in target:
                imported = target.split(".")[1]
                if allowed is not None and imported != part and imported not in allowed:
                    violations.append(Violation(module, line, f"{part} must not import {target}"))
            elif top in LIBRARY_ROOMS and not _in_room(module, LIBRARY_ROOMS[top]):
                violations.append(Violation(module, line, f"{top} is used only in {LIBRARY_ROOMS[top]}"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                name = _dotted(node) or ""
                if name in CALL_ROOMS and not _in_room(module, CALL_ROOMS[name]):
                    violations.append(Violation(module, node.lineno, f"{name} only in {CALL_ROOMS[name]}"))
    return violations


def test_the_package_keeps_the_part_rules() -> None:
    violations = check_tree(PACKAGE_ROOT)
    assert not violations, "\n".join(str(violation) for violation in violations)


def _tree(tmp_path: Path, files: Mapping[str, str]) -> Path:
    root = tmp_path / "gateway"
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        # rules/ reaching for the config models: the break this check was written for.
        (
            {"rules/engine.py": "from gateway.config import RuleConfig\n"},
            "rules must not import gateway.config",
        ),
        ({"rules/engine.py": "from ..config import RuleConfig\n"}, "rules must not import gateway.config"),
        ({"api/cameras.py": "import gateway.delivery.outbox\n"}, "api must not import gateway.delivery"),
        ({"delivery/mqtt.py": "from gateway import audit\n"}, "delivery must not import gateway.audit"),
        ({"audit/store.py": "from gateway.ingest.camera import Camera\n"}, "audit must not import"),
        ({"ingest/camera.py": "import onnxruntime\n"}, "onnxruntime is used only in"),
        ({"rules/engine.py": "import paho.mqtt.client\n"}, "paho is used only in"),
        ({"inference/service.py": "import cv2\ncv2.VideoCapture(0)\n"}, "cv2.VideoCapture only in"),
        ({"pipeline.py": "import logging\nlogging.basicConfig()\n"}, "logging.basicConfig only in"),
        ({"newpart/thing.py": "x = 1\n"}, "part 'newpart' is not in the part table"),
        # A neutral module that grew an import would tie every part to what it imports.
        ({"image_format.py": "from gateway.api import detect\n"}, "image_format must not import"),
        ({"printable.py": "from gateway.domain import Frame\n"}, "printable must not import"),
    ],
)
def test_a_forbidden_import_is_reported(tmp_path: Path, files: Mapping[str, str], expected: str) -> None:
    # given a package with one break of the rules, when it is checked, then the break is named
    violations = check_tree(_tree(tmp_path, files))
    assert any(expected in str(violation) for violation in violations), violations


def test_allowed_imports_pass(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "rules/engine.py": "from gateway.domain import Alert\nfrom gateway.rules import zones\n",
            "api/cameras.py": "from gateway.protocol.alerts import alert_to_dict\nimport aiohttp\n",
            "inference/engines/onnx.py": "import onnxruntime\n",
            "pipeline.py": "from gateway.delivery.outbox import Outbox\n",
            "api/image_size.py": "from gateway.image_format import PNG_SIGNATURE\n",
            "inference/preprocess.py": "from gateway.image_format import is_jpeg_or_png\n",
            "pipeline/rule_labels.py": "from gateway.printable import printable\n",
            "delivery/mqtt.py": "from gateway.printable import printable\n",
        },
    )
    assert check_tree(root) == []
