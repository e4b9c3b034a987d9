"""The audit store's bounds are the audit config's ``bounds:`` keys, with the defaults the store had
and errors that name the key and its line; ``StoreBounds.from_config`` takes every one of them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from gateway.audit.bounds import StoreBounds
from gateway.config import AuditConfig, load_audit_config
from gateway.errors import ConfigError

HEAD = "mqtt: {url: 'mqtt://127.0.0.1:1883'}\nkeys_file: keys.yaml\n"


def test_the_config_defaults_are_the_stores() -> None:
    config = AuditConfig.model_validate({"mqtt": {"url": "mqtt://127.0.0.1"}, "keys_file": "keys.yaml"})
    assert StoreBounds.from_config(config.bounds) == StoreBounds()


def test_every_bound_is_taken_from_the_config(tmp_path: Path) -> None:
    names = [field.name for field in dataclasses.fields(StoreBounds)]
    path = tmp_path / "audit.yaml"
    path.write_text(
        HEAD + "bounds:\n" + "".join(f"  {name}: {index + 1}\n" for index, name in enumerate(names))
    )
    bounds = StoreBounds.from_config(load_audit_config(path).bounds)
    assert dataclasses.asdict(bounds) == {name: index + 1 for index, name in enumerate(names)}


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("0", "bounds.held_images: must be at least 1, got 0"),
        ("-5", "bounds.held_images: must be at least 1, got -5"),
        ("'5'", "bounds.held_images: expected a number, got the string '5'"),
        ("yes", "bounds.held_images: expected a number, got the boolean true"),
        ("1.5", "bounds.held_images: must be a whole number, got 1.5"),
    ],
)
def test_a_bad_bound_is_refused_naming_its_key_and_line(tmp_path: Path, value: str, problem: str) -> None:
    path = tmp_path / "audit.yaml"
    path.write_text(HEAD + f"bounds:\n  rejected: 10\n  held_images: {value}\n")
    with pytest.raises(ConfigError) as raised:
        load_audit_config(path)
    shown = "\n".join(str(found) for found in raised.value.problems)
    assert shown.startswith(f"{path}:5: {problem}"), shown


def test_an_unknown_bound_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "audit.yaml"
    path.write_text(HEAD + "bounds:\n  held_image: 10\n")
    with pytest.raises(ConfigError) as raised:
        load_audit_config(path)
    assert f"{path}:4: bounds.held_image: unknown key; did you mean 'held_images'?" in str(raised.value)
