"""A model's labels (its model.yaml) reach the log escaped (``gateway.printable``): a newline, an ANSI
escape or a bidirectional override in a label cannot forge a log line or reorder one."""

from __future__ import annotations

import dataclasses
import logging
import math
import unicodedata
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from gateway.config import CameraConfig
from gateway.domain import Detection, ModelReference
from gateway.inference.engines.base import Engine, EngineOptions
from gateway.inference.repository import ModelRepository
from gateway.pipeline.alert_announcer import AlertAnnouncer
from gateway.pipeline.rule_labels import repository_labels, unknown_labels
from gateway.printable import printable, printable_list
from gateway.tracking.tracker import Tracker, TrackerInputError, TrackerSpec
from tests.support.console_app import alerts

FORGED = "person\n2026-01-01 00:00:00 INFO gateway: all cameras stopped"
REVERSED = "car\u202eesrever"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("person", "person"),
        ("人 café", "人 café"),  # letters of any script are shown as they are
        ("a\nb\r\tc", "a\\nb\\r\\tc"),
        ("\x1b[2Jcleared", "\\x1b[2Jcleared"),
        ("left\u202eright\u2066x\u2069\u200f", "left\\u202eright\\u2066x\\u2069\\u200f"),
        ("line\u2028separator\x85", "line\\u2028separator\\x85"),
        ("lone \ud800 surrogate", "lone \\ud800 surrogate"),
        ("tag\U000e0041", "tag\\U000e0041"),
        ("back\\slash\\n", "back\\\\slash\\\\n"),  # a label written as "\n" reads apart from a newline
        ("", ""),
    ],
)
def test_printable_escapes_what_a_terminal_would_act_on(text: str, shown: str) -> None:
    assert printable(text) == shown


def test_printable_leaves_no_character_that_is_not_shown_as_itself() -> None:
    every = "".join(chr(code) for code in range(0x3000)) + "\u202e\u2066\ufeff\U000e0001"
    result = printable(every)
    assert result.isprintable()
    assert not [character for character in result if unicodedata.category(character) in ("Cc", "Cf")]


def test_printable_list_joins_the_escaped_labels() -> None:
    assert printable_list(["a\nb", "c"]) == "a\\nb, c"


MODEL_YAML = """\
inputs: [{name: images, dims: [3, 32, 32]}]
outputs: [{name: output0, dims: [6, 21]}]
preprocess: {width: 32, height: 32}
postprocess: {kind: yolov8, labels: ["person\\n2026-01-01 00:00:00 INFO gateway: all cameras stopped",
                                     "car\\u202eesrever"]}
"""


def no_engines(path: Path, options: EngineOptions) -> Engine:
    raise AssertionError("the label check loads no model")


def test_a_models_labels_are_said_escaped(tmp_path: Path) -> None:
    # Given a model whose model.yaml declares labels holding a newline and a right-to-left override,
    (tmp_path / "detector").mkdir()
    (tmp_path / "detector" / "model.yaml").write_text(MODEL_YAML, encoding="utf-8")
    repository = ModelRepository(tmp_path, no_engines, EngineOptions(providers=("cpu",)))
    repository.scan()
    labels_of = repository_labels(repository.config_of)
    assert labels_of(ModelReference("detector")) == frozenset({FORGED, REVERSED})
    # and a camera rule following a label the model does not have (its own, with a control in it),
    camera = CameraConfig.model_validate(
        {
            "id": "door",
            "url": "rtsp://10.0.0.5/stream1",
            "model": "detector",
            "rules": [{"name": "bags", "labels": ["bag\x1b[31m"]}],
        }
    )
    # when the gateway checks the rules against the model's labels,
    [rule] = unknown_labels([camera], labels_of)
    # then the line it logs and shows in /v1/status is one line, in its own order.
    message = rule.text
    assert rule.never_fires
    assert message.isprintable()
    assert "labels bag\\x1b[31m that model detector" in message
    assert "car\\u202eesrever" in message
    assert "person\\n2026-01-01 00:00:00 INFO gateway: all cameras stopped" in message


def test_an_alerts_label_is_logged_escaped(caplog: pytest.LogCaptureFixture) -> None:
    # Given an alert whose label (the model's) would end the line and forge the next,
    alert = alerts("door", "entering", FORGED, 1)[0]
    announce = AlertAnnouncer(CollectorRegistry(), None)
    # when it is announced,
    with caplog.at_level(logging.INFO, logger="gateway.pipeline.gateway"):
        announce(alert)
        announce(dataclasses.replace(alert, event=dataclasses.replace(alert.event, label=REVERSED)))
    # then each is one line with the label escaped.
    first, second = (record.getMessage() for record in caplog.records)
    assert "label=person\\n2026-01-01 00:00:00 INFO gateway: all cameras stopped score=0.80" in first
    assert "label=car\\u202eesrever score=0.80" in second
    assert first.isprintable()
    assert second.isprintable()


def test_a_detection_the_tracker_refuses_is_named_by_its_label_escaped() -> None:
    tracker = Tracker(TrackerSpec())
    with pytest.raises(TrackerInputError) as caught:
        tracker.update(0.0, [Detection(REVERSED, math.nan, (0.1, 0.1, 0.2, 0.2))])
    assert "detection 0 ('car\\u202eesrever') has a score" in str(caught.value)
    assert str(caught.value).isprintable()
