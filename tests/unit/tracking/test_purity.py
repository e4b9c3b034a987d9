"""gateway/tracking is pure: it imports only gateway.domain, gateway.errors, numpy and the standard
library (no I/O, no config, no clock), as DESIGN.md's part rules require."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import gateway.tracking

PACKAGE = Path(gateway.tracking.__file__).parent
ALLOWED_OURS = {"gateway.domain", "gateway.errors"}
ALLOWED_THIRD_PARTY = {"numpy"}
FORBIDDEN_STANDARD = {"time", "datetime", "os", "io", "pathlib", "socket", "logging", "threading", "random"}


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_tracking_imports_only_what_it_may() -> None:
    files = sorted(PACKAGE.glob("*.py"))
    assert len(files) >= 4
    for path in files:
        for name in imported_modules(path):
            top = name.split(".")[0]
            if name.startswith("gateway."):
                assert name in ALLOWED_OURS or name.startswith("gateway.tracking"), f"{path.name}: {name}"
            elif top in sys.stdlib_module_names or top == "__future__":
                assert top not in FORBIDDEN_STANDARD, f"{path.name}: {name}"
            else:
                assert top in ALLOWED_THIRD_PARTY, f"{path.name}: {name}"
