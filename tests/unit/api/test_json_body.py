"""JSON bodies and their nesting limit, alone: what counts as a level and what is answered."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

import gateway.api
from gateway.api.json_body import MAX_DEPTH, load_json
from gateway.errors import InvalidInputError


def nested(depth: int) -> bytes:
    """A list nested ``depth`` levels deep around one number."""
    return b"[" * depth + b"1" + b"]" * depth


def test_a_body_at_the_limit_decodes() -> None:
    document = load_json(nested(MAX_DEPTH))
    for _ in range(MAX_DEPTH - 1):
        assert isinstance(document, list)
        (document,) = document
    assert document == [1]


def test_one_level_past_the_limit_names_the_limit() -> None:
    with pytest.raises(
        InvalidInputError, match=f"nests JSON {MAX_DEPTH + 1} levels deep, deeper than {MAX_DEPTH}"
    ):
        load_json(nested(MAX_DEPTH + 1))


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_nesting_past_the_decoders_recursion_is_the_same_clear_error(depth: int) -> None:
    with pytest.raises(InvalidInputError, match=f"request body nests JSON deeper than {MAX_DEPTH} levels"):
        load_json(nested(depth))


def test_objects_count_as_levels_too() -> None:
    body = b'{"a":' * (MAX_DEPTH + 1) + b"1" + b"}" * (MAX_DEPTH + 1)
    with pytest.raises(InvalidInputError, match="levels deep"):
        load_json(body)


def test_brackets_inside_strings_are_not_levels() -> None:
    # Given many shallow lists and strings full of brackets and escaped quotes
    text = "[" + "[" * 200 + '\\"{' + "]" * 3
    body = json.dumps({"name": text, "rows": [[index] for index in range(500)], "other": "]]]"}).encode()
    assert load_json(body) == json.loads(body)


def test_utf16_bodies_are_measured_too() -> None:
    deep = ("[" * (MAX_DEPTH + 1) + "1" + "]" * (MAX_DEPTH + 1)).encode("utf-16")
    with pytest.raises(InvalidInputError, match="levels deep"):
        load_json(deep)
    assert load_json('{"a": ["[[["]}'.encode("utf-16")) == {"a": ["[[["]}


def test_invalid_json_says_so() -> None:
    with pytest.raises(InvalidInputError, match="header is not valid JSON"):
        load_json(b'{"inputs": [', what="header")


def test_the_api_decodes_json_only_through_load_json() -> None:
    # Any other json.loads (or aiohttp's request.json()) in gateway/api would bypass the limit.
    package = Path(gateway.api.__file__).parent
    offenders = []
    for module in sorted(package.glob("*.py")):
        if module.name == "json_body.py":
            continue
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in {"loads", "load", "json"}:
                offenders.append(f"{module.name}:{node.lineno} .{node.attr}")
    assert offenders == []
