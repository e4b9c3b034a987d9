"""A keys reload logs the devices added, removed and re-keyed, naming the first 20 of each and how
many more: a first reload of a fleet of 50,000 devices made one log line of half a million
characters."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.audit.keys_file import KeyRing, SettledKeys, SigningKeys, load_keys
from gateway.commands.audit import _reload_keys

KEY = bytes(range(32))
OTHER = bytes(range(1, 33))


def reloaded(tmp_path: Path, before: dict[str, KeyRing], after: dict[str, bytes]) -> str:
    path = tmp_path / "keys.yaml"
    path.write_text("".join(f"{device}: {key.hex()}\n" for device, key in after.items()))
    used: list[SigningKeys] = []
    keys, problem = _reload_keys(SettledKeys(path, settle_s=0.0), before, [used.append])
    assert problem is None
    assert keys == used[0] == load_keys(path)
    return str(path)


def test_a_reload_names_the_first_devices_of_each_change_and_counts_the_rest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    before: dict[str, KeyRing] = {f"box-{number:03d}": (KEY,) for number in range(30)}
    after = {f"box-{number:03d}": KEY for number in range(5, 60)}
    with caplog.at_level(logging.INFO, logger="gateway.commands.audit"):
        path = reloaded(tmp_path, before, after)
    added = ", ".join(f"box-{number:03d}" for number in range(30, 50))
    removed = ", ".join(f"box-{number:03d}" for number in range(5))
    assert caplog.messages == [
        f"audit: keys reloaded from {path}: 55 devices; added {added} and 10 more; removed {removed}"
    ]


def test_a_reload_of_few_changes_names_them_all(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="gateway.commands.audit"):
        path = reloaded(tmp_path, {"box-a": (KEY,), "box-b": (KEY,)}, {"box-a": OTHER, "box-c": KEY})
    assert caplog.messages == [
        f"audit: keys reloaded from {path}: 2 devices; added box-c; removed box-b; re-keyed box-a"
    ]
