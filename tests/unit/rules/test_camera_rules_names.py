"""``CameraRules`` built directly (not from config, which refuses a repeated name at its line first)
names the repeated rule names. Before, its ValueError said only "rule names must be unique"."""

from __future__ import annotations

import pytest

from gateway.rules.specs import CameraRules, RuleSpec, RuleType


def rule(name: str) -> RuleSpec:
    return RuleSpec(name, RuleType.PRESENCE, "person-detector")


def test_a_repeated_rule_name_is_named() -> None:
    with pytest.raises(
        ValueError, match=r"^camera 'gate': rule name 'intrusion' is repeated; rule names must be unique$"
    ):
        CameraRules("gate", (rule("intrusion"), rule("loitering"), rule("intrusion")))


def test_every_repeated_rule_name_is_named_once() -> None:
    rules = (rule("a"), rule("b"), rule("a"), rule("b"), rule("a"), rule("c"))

    with pytest.raises(ValueError, match=r"^camera 'gate': rule names 'a', 'b' are repeated; "):
        CameraRules("gate", rules)


def test_distinct_rule_names_are_taken() -> None:
    assert [spec.name for spec in CameraRules("gate", (rule("a"), rule("b"))).rules] == ["a", "b"]
