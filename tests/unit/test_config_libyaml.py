"""Config files read through libyaml (PyYAML's C parser, where PyYAML was built with it): every
document reads as PyYAML's own Python loader reads it, data, lines and refusals alike, and a document
nested past the bound never reaches libyaml's composer, which recurses in C."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.config import loading
from gateway.errors import ConfigError

pytestmark = pytest.mark.skipif(loading._LIBYAML is None, reason="PyYAML built without libyaml")

DOCUMENTS = [
    "device_id: jetson-01\ncameras:\n  - id: gate\n    url: rtsp://127.0.0.1/s\n    detect_fps: 1e-3\n",
    "defaults: &camera {model: face-detector, detect_fps: 5}\ncameras:\n  - {<<: *camera, id: a}\n",
    "a: &a {x: 1}\nb: {<<: *a, x: 2}\n",
    "a: &a {x: 1}\nb: {<<: *a, y: 2, y: 3}\n",
    "a: &x 1\nb: &x 2\n",
    "a: *y\n",
    "a: &x [*x]\n",
    "a: 1e-3\nb: 1e5\nc: .5e3\nd: 0x1F\ne: 0o17\nf: 1_000\ng: yes\nh: ~\ni: 2026-12-02\n",
    "a: !!binary aGVsbG8=\n",
    "a: !!python/name:os.system\n",
    "a: !!int abc\n",
    "a: {1: 2, 1.0: 3}\n",
    "a: {[1]: 2}\n",
    "? [a, b]\n: c\n",
    "\ufeffa: 1\r\nb: 2\r\n",
    "a: |\n  x\n   y\nb: >-\n  x\n  y\n",
    "%YAML 1.1\n---\na: 1\n",
    "%YML 1.1\n---\na: 1\n",
    "--- a\n--- b\n",
    "",
    "a: b\n\x07\n",
    "device_id: x\ncameras:\n  - id gate\n    url: rtsp://a/b\n",
    "device_id: x\ncameras:\n  - id: gate\n   url: rtsp://a/b\n",
    "cameras:\n  - id: gate\n    zones: [{name: a, polygon: [[0,0],[1,0],[1,1]]}\n    url: x\n",
    "cameras:\n\t- id: gate\n",
    "device_id: 'x\ncameras: []\n",
    "Values that validate must work at run time: durations have upper bounds, zones enclose\nan area.\n",
    "[" * 63 + "]" * 63,
    "[" * 64 + "]" * 64,
    "[" * 65 + "]" * 65,
    "[" * 5000 + "]" * 5000,
    "- " * 70 + "x\n",
]


def read(text: str) -> tuple[str, Any]:
    try:
        return "read", loading.load_with_lines(text, "site.yaml")
    except ConfigError as exc:
        return "refused", str(exc)


@pytest.mark.parametrize("text", DOCUMENTS)
def test_a_document_reads_as_pyyaml_reads_it(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    through_libyaml = read(text)
    monkeypatch.setattr(loading, "_LIBYAML", None)
    assert through_libyaml == read(text)


def test_a_document_nested_past_the_bound_never_reaches_libyaml(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given libyaml's composer, which recurses in C (libyaml before 0.2.5 sets no bound of its own)
    def composer_reached(_: str) -> None:
        raise AssertionError("libyaml composed a document nested past the bound")

    monkeypatch.setattr(loading, "_FastLineLoader", composer_reached)
    # Then a block and a flow document nested past the bound are refused by PyYAML's own loader
    for text in ("a:\n" + "".join("  " * depth + f"k{depth}:\n" for depth in range(1, 70)), "[" * 70):
        with pytest.raises(ConfigError, match=r"nested more than 64 deep"):
            loading.load_with_lines(text, "site.yaml")


def test_a_tab_between_a_key_and_its_value_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    # YAML allows a tab as white space between tokens; PyYAML's Python scanner refuses it, libyaml not
    assert loading.load_with_lines("device_id:\tjetson-01\n", "site.yaml")[0] == {"device_id": "jetson-01"}
    monkeypatch.setattr(loading, "_LIBYAML", None)
    with pytest.raises(ConfigError, match=r"site.yaml:1: invalid YAML: .*'\\t'"):
        loading.load_with_lines("device_id:\tjetson-01\n", "site.yaml")


def test_libyaml_is_what_reads_a_config(monkeypatch: pytest.MonkeyPatch) -> None:
    composed: list[str] = []
    fast_loader = loading._FastLineLoader

    def counted(text: str) -> Any:
        composed.append(text)
        return fast_loader(text)

    monkeypatch.setattr(loading, "_FastLineLoader", counted)
    assert loading.load_with_lines("a: [1, 2]\n", "site.yaml")[0] == {"a": [1, 2]}
    assert composed == ["a: [1, 2]\n"]
