"""What a reload applies to a running camera and what waits for a restart (``gateway.pipeline.
camera_changes``), and rules following labels their model does not have (``gateway.pipeline.
rule_labels``): pure functions over config, table-tested."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.config import CameraConfig
from gateway.domain import ModelReference
from gateway.inference.engines.base import Engine, EngineOptions
from gateway.inference.repository import ModelRepository
from gateway.pipeline.camera_changes import ReloadPlan, plan_reload, restart_only_changes
from gateway.pipeline.rule_labels import repository_labels, unknown_labels

YARD = {"name": "yard", "polygon": [[0.1, 0.5], [0.9, 0.5], [0.9, 1.0], [0.1, 1.0]]}
TREE = [[0.6, 0.0], [1.0, 0.0], [1.0, 0.5]]
FACES = {"name": "face", "labels": ["FACE_FEMALE", "FACE_MALE"], "zones": ["yard"]}


def camera(camera_id: str = "door", **changes: Any) -> CameraConfig:
    return CameraConfig.model_validate(
        {
            "id": camera_id,
            "url": "rtsp://admin:secret@10.0.0.5/stream1",
            "model": "face-detector",
            "zones": [YARD],
            "rules": [FACES],
            **changes,
        }
    )


def test_a_model_change_keeps_the_cameras_config_in_force_and_names_the_change() -> None:
    # Given a camera running face-detector whose rules a previous reload already changed,
    built = camera()
    in_force = camera(rules=[{**FACES, "min_score": 0.3}])
    # when a reload asks for another model (and other rules),
    requested = camera(model="fd2", rules=[{**FACES, "name": "other"}])
    plan = plan_reload({"door": built}, [in_force], [requested])
    # then the camera keeps its model with the rules in force (rules for fd2 would judge nothing),
    assert plan.cameras == (in_force,)
    # and the pending change names the camera and the change.
    (pending,) = plan.pending
    assert pending.startswith("camera door: restart to apply model face-detector -> fd2;")


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"anomaly": {"model": "scene-anomaly-door"}}, "anomaly.model none -> scene-anomaly-door"),
        ({"model": "face-detector:2"}, "model face-detector -> face-detector:2"),
        ({"detect_fps": 10}, "detect_fps 5.0 -> 10.0"),
        ({"motion": {"threshold": 40}}, "motion.threshold 25 -> 40"),
        ({"enabled": False}, "enabled True -> False"),
        (
            {"url": "rtsp://admin:other@10.0.0.6/stream1"},
            "url rtsp://10.0.0.5/stream1 -> rtsp://10.0.0.6/stream1",
        ),
        ({"url": "rtsp://admin:other@10.0.0.5/stream1"}, "url credentials changed"),
    ],
)
def test_every_restart_only_change_is_named_without_credentials(changes: dict[str, Any], named: str) -> None:
    built = camera()
    plan = plan_reload({"door": built}, [built], [camera(**changes)])
    assert plan.cameras == (built,)
    (pending,) = plan.pending
    assert named in pending
    assert "secret" not in pending
    assert "other@" not in pending


def test_a_motion_mask_applies_without_a_restart_unlike_motions_other_keys() -> None:
    built = camera()
    masked = camera(motion={"mask": [TREE]})
    assert plan_reload({"door": built}, [built], [masked]) == ReloadPlan((masked,), ())
    # With a restart-only key of its section, the whole camera waits, its mask too; the line names
    # that key alone.
    both = camera(motion={"mask": [TREE], "threshold": 40})
    plan = plan_reload({"door": built}, [built], [both])
    assert plan.cameras == (built,)
    (pending,) = plan.pending
    assert "restart to apply motion.threshold 25 -> 40;" in pending
    assert "mask" not in pending


def test_rules_zones_tracker_and_anomaly_timing_apply_without_a_restart() -> None:
    built = camera(anomaly={"model": "scene-anomaly-door"})
    requested = camera(
        zones=[{**YARD, "polygon": [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]}],
        lines=[{"name": "gate", "points": [[0.5, 0.0], [0.5, 1.0]], "in_direction": [1, 0]}],
        rules=[{**FACES, "min_frames": 1}, {"name": "entering", "type": "line_crossing", "line": "gate"}],
        tracker={"max_lost_s": 3},
        anomaly={"model": "scene-anomaly-door", "min_frames": 5, "cooldown_s": 0},
    )
    assert restart_only_changes(built, requested) == []
    plan = plan_reload({"door": built}, [built], [requested])
    assert plan == ReloadPlan((requested,), ())


def test_a_reverted_change_applies_again_and_clears_the_pending_line() -> None:
    built = camera()
    held = plan_reload({"door": built}, [built], [camera(model="fd2")])
    assert held.pending
    reverted = camera(rules=[{**FACES, "min_score": 0.2}])
    plan = plan_reload({"door": built}, held.cameras, [reverted])
    assert plan.cameras == (reverted,)
    assert plan.pending == ()


def test_cameras_added_or_removed_wait_for_a_restart_and_the_others_apply() -> None:
    door, yard = camera(), camera("yard")
    changed_door = camera(rules=[])
    plan = plan_reload({"door": door, "yard": yard}, [door, yard], [changed_door, camera("gate")])
    # The running set is fixed at start: "yard" keeps streaming under its rules, "gate" is not built.
    assert [config.id for config in plan.cameras] == ["door", "yard"]
    assert plan.cameras[0] == changed_door
    assert plan.cameras[1] == yard
    assert plan.pending == (
        "camera gate added: it starts when the service restarts",
        "camera yard removed: it keeps running with its previous config until the service restarts",
    )


def labels(*names: str) -> dict[ModelReference, frozenset[str]]:
    return {ModelReference("face-detector"): frozenset(names)}


def test_a_rule_following_labels_its_model_does_not_have_is_named_with_them() -> None:
    cameras = [
        camera(rules=[{"name": "person", "labels": ["person"]}, FACES, {"name": "any"}]),
        camera("yard", rules=[{"name": "mixed", "labels": ["FACE_MALE", "car", "person"]}]),
    ]
    known = labels("FACE_FEMALE", "FACE_MALE")
    assert [(rule.text, rule.never_fires) for rule in unknown_labels(cameras, known.get)] == [
        (
            "camera door: rule person follows labels person that model face-detector does not have "
            "(it can never fire; its labels: FACE_FEMALE, FACE_MALE)",
            True,
        ),
        # A rule that still fires on some of its labels is a warning only (shared rules are written so).
        (
            "camera yard: rule mixed follows labels car, person that model face-detector does not have "
            "(they never match; its labels: FACE_FEMALE, FACE_MALE)",
            False,
        ),
    ]


def test_a_model_whose_labels_are_unknown_is_not_judged() -> None:
    unknown: dict[ModelReference, frozenset[str]] = {}
    assert unknown_labels([camera(rules=[{"name": "person", "labels": ["person"]}])], unknown.get) == []


def no_engines(path: Path, options: EngineOptions) -> Engine:
    raise AssertionError("the label check loads no model")


MODEL_YAML = """\
inputs: [{name: images, dims: [3, 32, 32]}]
outputs: [{name: output0, dims: [7, 21]}]
preprocess: {width: 32, height: 32}
postprocess: {kind: yolov8, labels: [person, car, face], %s}
"""


@pytest.mark.parametrize(
    ("keep", "expected"),
    [("keep_labels: [face]", frozenset({"face"})), ("", frozenset({"person", "car", "face"}))],
)
def test_a_models_labels_are_what_its_postprocess_reports(
    tmp_path: Path, keep: str, expected: frozenset[str]
) -> None:
    (tmp_path / "detector").mkdir()
    (tmp_path / "detector" / "model.yaml").write_text(MODEL_YAML % keep)
    repository = ModelRepository(tmp_path, no_engines, EngineOptions(providers=("cpu",)))
    repository.scan()  # reads model.yaml; loads nothing
    labels_of = repository_labels(repository.config_of)
    assert labels_of(ModelReference("detector", 2)) == expected
    assert labels_of(ModelReference("missing")) is None
