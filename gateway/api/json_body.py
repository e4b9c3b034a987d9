"""JSON request bodies, decoded with a nesting limit.

Python's JSON decoder recurses once per nesting level, so a few kilobytes of ``[`` end in
RecursionError: a client's mistake that would otherwise surface as a 500. Every JSON body the API
reads goes through ``load_json``, which answers anything nested deeper than MAX_DEPTH with
InvalidInputError (a 400) naming the limit. The deepest legitimate body is an inference request
whose ``data`` nests one list per tensor dimension; MAX_DEPTH leaves room for 60 of them.

The depth is measured on the raw text, after decoding succeeded (so the text is valid JSON and
string-skipping is linear), with C-speed passes only: strings removed by one regular expression,
everything but brackets deleted, and the running depth taken by a cumulative sum. Bodies with no
more than MAX_DEPTH opening brackets in all skip the measurement.

An object that repeats a key (two ``"inputs"``) is refused naming the key: Python's decoder keeps
the last one silently, so the client's first tensors would be dropped without a word (the API
refuses repeated query parameters for the same reason).
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

from gateway.errors import InvalidInputError

__all__ = ["MAX_DEPTH", "load_json"]

MAX_DEPTH = 64

# A JSON string, written so that no input makes it backtrack (Friedl's unrolled loop).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in b"[]{}")
_OPENERS = np.frombuffer(b"[{", dtype=np.uint8)


class _RepeatedKeyError(Exception):
    """Raised inside the decoder, where ``what`` is not known; ``load_json`` words it."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _RepeatedKeyError(key)
            seen.add(key)
    return document


def load_json(body: bytes | bytearray | memoryview, what: str = "request body") -> object:
    """Decode ``body``; raise InvalidInputError naming the problem (``what`` names the body)."""
    if isinstance(body, memoryview):
        body = bytes(body)
    try:
        document = json.loads(body, object_pairs_hook=_object)
    except _RepeatedKeyError as exc:
        raise InvalidInputError(
            f"{what} repeats the key {json.dumps(exc.key, ensure_ascii=False)[:60]} in one object"
        ) from None
    except RecursionError:
        raise InvalidInputError(f"{what} nests JSON deeper than {MAX_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{what} is not valid JSON: {exc}") from exc
    if body.count(b"[") + body.count(b"{") > MAX_DEPTH:
        depth = _depth(_as_utf8(body))
        if depth > MAX_DEPTH:
            raise InvalidInputError(f"{what} nests JSON {depth} levels deep, deeper than {MAX_DEPTH}")
    return document


def _as_utf8(body: bytes | bytearray) -> bytes | bytearray:
    """json.loads also takes UTF-16 and UTF-32; the scan below reads UTF-8 bytes."""
    encoding = json.detect_encoding(body)
    if encoding in ("utf-8", "utf-8-sig"):
        return body
    return bytes(body).decode(encoding).encode("utf-8")


def _depth(document: bytes | bytearray) -> int:
    brackets = np.frombuffer(_STRING.sub(b"", document).translate(None, _NOT_BRACKETS), dtype=np.uint8)
    if brackets.size == 0:
        return 0
    steps = np.where(np.isin(brackets, _OPENERS), 1, -1)
    return int(np.cumsum(steps).max())
