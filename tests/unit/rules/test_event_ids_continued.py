"""The rule engine's event ids continue from what earlier runs committed (``continue_ids``): for the
cameras it has and for a camera a reload adds later; scene changes, which the anomaly rule's judge
decides with the camera's ids, included. Pure: the real rule engine on scripted anomaly maps."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.rules.engine import RuleEngine
from tests.unit.rules.test_anomaly import engine, gate_rules
from tests.unit.rules.test_scene_change_ids import park, scene_change_ids


@dataclass(frozen=True, slots=True)
class Given:
    newest_ms: int
    marks: int
    newest_track: int = 0


EARLIER = {"gate": Given(newest_ms=2_000_000, marks=2)}
"""The gate's earlier ids reached the capture time 2,000 s, with the mark ~2."""


def test_ids_of_a_camera_the_engine_has_continue_past_the_earlier_marks() -> None:
    rules = engine(60.0)
    rules.continue_ids(EARLIER)
    assert scene_change_ids(park(rules, 1000.0, 62)) == ["gate:anomaly:scene_change:1060000~3"]


def test_ids_of_a_camera_a_reload_adds_continue_past_the_earlier_marks() -> None:
    rules = RuleEngine()
    rules.continue_ids(EARLIER)
    rules.reconfigure(gate_rules(60.0), 0.0)
    assert scene_change_ids(park(rules, 1000.0, 62)) == ["gate:anomaly:scene_change:1060000~3"]


def test_ids_past_the_earlier_capture_times_keep_the_plain_form() -> None:
    rules = engine(60.0)
    rules.continue_ids({"gate": Given(newest_ms=1_000_000, marks=2)})
    assert scene_change_ids(park(rules, 1000.0, 62)) == ["gate:anomaly:scene_change:1060000"]
