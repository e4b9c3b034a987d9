"""The list of tests that cannot run under aarch64 emulation (``tests/arm64.py``) names tests that
exist, checked on every machine: ``make test-arm64`` fails on a stale entry too, but runs less often."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.arm64 import UNRUNNABLE, Unrunnable

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("entry", UNRUNNABLE, ids=lambda entry: entry.function)
def test_each_listed_test_exists_with_a_reason(entry: Unrunnable) -> None:
    path = ROOT / entry.path
    assert path.is_file(), f"{entry.test}: no such file"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    functions = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert entry.function in functions, f"{entry.test}: no such test function"
    assert entry.reason.strip(), f"{entry.test}: no reason given"
