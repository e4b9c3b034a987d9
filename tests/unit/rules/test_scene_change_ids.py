"""Scene-change event ids stay unique when the camera's clock steps back: the decider then restarts
the camera's rules (``RuleEngine.restart``), and a scene change decided on a capture time that an
earlier one was decided on must not share its id (the outbox and the audit side group alerts by
event id). Pure: scripted anomaly maps through the real rule engine."""

from __future__ import annotations

from gateway.domain import AlertEvent, AlertKind
from gateway.rules.anomaly import SCENE_CHANGE
from gateway.rules.engine import RuleEngine
from tests.unit.rules.test_anomaly import CAR, cells_map, engine, result


def park(rules: RuleEngine, start: float, seconds: int) -> list[AlertEvent]:
    events: list[AlertEvent] = []
    for second in range(seconds):
        events += rules.process(result(start + second, cells_map(CAR)))
    return events


def scene_change_ids(events: list[AlertEvent]) -> list[str]:
    return [
        event.event_id for event in events if event.label == SCENE_CHANGE and event.kind is AlertKind.START
    ]


def test_a_scene_change_after_the_clock_stepped_back_gets_an_id_of_its_own() -> None:
    rules = engine(60.0)
    # Given a car that became the new normal on the frame captured at 1060 s
    before = park(rules, 1000.0, 62)
    # When the clock steps back (the decider restarts the camera) and the same happens again on the
    # new clock, a car parked from 1000 s becoming the new normal at 1060 s
    rules.restart("gate", 1061.0)
    after = park(rules, 1000.0, 62)
    # Then each scene change has its own id, the second with the restart's mark
    assert scene_change_ids(before) == ["gate:anomaly:scene_change:1060000"]
    assert scene_change_ids(after) == ["gate:anomaly:scene_change:1060000~1"]
    # and its start and end still share one
    assert {event.event_id for event in after if event.label == SCENE_CHANGE} == {
        "gate:anomaly:scene_change:1060000~1"
    }


def test_scene_change_ids_keep_the_plain_form_while_the_clock_moves_forward() -> None:
    rules = engine(60.0)
    assert scene_change_ids(park(rules, 1000.0, 62)) == ["gate:anomaly:scene_change:1060000"]
