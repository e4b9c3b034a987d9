"""A reload that changes a camera's tracker settings (``tracker.max_lost_s``) keeps following the
objects in view under the same track ids: their open events are handed over, not ended as if the
objects had left while a second event starts for each of them.

Found against a live ``serve``: a SIGHUP changing ``tracker: {max_lost_s: 1.0}`` to 2.0 while three
faces stood in view started a second presence (and stationary) event for each face at once, under
new track ids, and ended the first ones ``end_after_s`` later with ``reason=cleared``.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from gateway.decider import AlertDecider
from gateway.domain import AlertKind, Detection
from gateway.tracking import TrackerSpec
from tests.unit.test_decider import PERSON, TRACKERS, Clock, FakeSink, cameras, result, rule


def test_a_changed_tracker_spec_keeps_the_track_ids_and_the_open_events() -> None:
    sink, clock = FakeSink(), Clock()
    clock.now = 1000.0
    shown: list[tuple[Detection, ...]] = []
    decider = AlertDecider(
        sink,
        cameras(rule()),
        announce=lambda _alert: None,
        registry=CollectorRegistry(),
        clock=clock,
        trackers=TRACKERS,
        show=lambda _camera, detections: shown.append(detections),
    )
    decider.start()
    decider.submit(result(1.0, PERSON))
    decider.submit(result(1.2, PERSON))
    # When: a reload changes max_lost_s (the rule itself is unchanged) while the person stays.
    changed = {"gate": TrackerSpec(confirm_hits=1, max_lost_s=2.0)}
    assert decider.reload(cameras(rule()), changed).result(5) == 0
    for index in range(20):
        decider.submit(result(1.4 + 0.5 * index, PERSON))
    assert decider.stop(5.0)
    # Then: one object, one track id, one event: its start and, at stop, its end.
    assert {detections[0].track_id for detections in shown} == {1_000_000}
    assert sink.kinds() == [("start", "intrusion", None), ("end", "intrusion", "stopped")]
    assert [alert.event.track_id for alert in sink.committed] == [1_000_000, 1_000_000]
    assert sink.committed[0].event.kind is AlertKind.START
