from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cli import main
from gateway.config import GatewayConfig, default_config, load_config, missing_from_checkout, parse_config
from gateway.domain import ModelReference
from gateway.errors import ConfigError

VALID = """\
device_id: jetson-01
state_dir: /tmp/state
cameras:
  - id: gate
    url: rtsp://user:pass@127.0.0.1/stream1
    model: person-detector:2
    zones: [{name: yard, polygon: [[0.1, 0.5], [0.9, 0.5], [0.9, 1], [0.1, 1]]}]
    rules: [{name: intrusion, labels: [person], zones: [yard], min_score: 0.5, min_frames: 3}]
"""


def test_valid_config_parses_and_is_frozen() -> None:
    config: GatewayConfig = parse_config(VALID)
    assert config.cameras[0].rules[0].zones == ["yard"]
    with pytest.raises(ValueError, match="frozen"):
        config.device_id = "other"  # type: ignore[misc]


def test_every_problem_is_reported_with_its_line_and_key_path() -> None:
    text = VALID.replace("min_score: 0.5", "min_score: 1.5").replace("device_id: jetson-01", "devise_id: x")
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "gateway.yaml")
    rendered = [str(problem) for problem in caught.value.problems]
    assert "gateway.yaml:1: devise_id: unknown key; did you mean 'device_id'?" in rendered
    assert any(line.startswith("gateway.yaml:8: cameras[0].rules[0].min_score:") for line in rendered)


def test_cross_field_checks_name_the_problem() -> None:
    text = VALID.replace("zones: [yard]", "zones: [street]")
    # The problem points at the rule's own key, with its line.
    match = (
        r"gateway.yaml:8: cameras\[0\]\.rules\[0\]\.zones: rule 'intrusion' names unknown zones \['street'\] "
        r"\(zones: \['yard'\]\)"
    )
    with pytest.raises(ConfigError, match=match):
        parse_config(text, "gateway.yaml")


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("zones: [yard]", "zones: [yrad]",
         "rule 'intrusion' names unknown zones ['yrad'] (did you mean 'yard'? zones: ['yard'])"),
        ("    zones: [{name: yard, polygon: [[0.1, 0.5], [0.9, 0.5], [0.9, 1], [0.1, 1]]}]\n", "",
         "rule 'intrusion' names unknown zones ['yard'] (zones: none)"),
        ("zones: [yard], min_score", "type: line_crossing, line: gaet, min_score",
         "rule 'intrusion' names unknown line 'gaet' (did you mean 'gate'? lines: ['gate'])"),
    ],
)  # fmt: skip
def test_a_zone_or_line_a_rule_names_is_told_with_the_one_likely_meant(
    old: str, new: str, problem: str
) -> None:
    lines = "    lines: [{name: gate, points: [[0.5, 0], [0.5, 1]], in_direction: [1, 0]}]\n"
    text = VALID.replace("    rules:", lines + "    rules:").replace(old, new)
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "gateway.yaml")
    assert [problem.message for problem in caught.value.problems] == [problem]


def test_invalid_yaml_points_at_the_line() -> None:
    with pytest.raises(ConfigError, match=r"gateway.yaml:4: invalid YAML"):
        parse_config("a: 1\nb:\n  - 2\n\t- 3\n", "gateway.yaml")


@pytest.mark.parametrize("text", ["a: 1\nb:\n  - 2\n\t- 3\n", "a:\n  b: 1\n\tc: 2\n"])
def test_a_tab_indenting_a_line_is_said_to_be_one(text: str) -> None:
    # (YAML's own words, "found character '\t' that cannot start any token", do not say what to do)
    with pytest.raises(ConfigError) as raised:
        parse_config(text, "gateway.yaml")
    assert str(raised.value).endswith("; YAML indents with spaces, never tabs")


def test_a_problem_not_at_a_tab_says_nothing_of_tabs() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config("a: [1\n\n", "gateway.yaml")
    assert "tabs" not in str(raised.value)


@pytest.mark.parametrize(
    ("reference", "expected"),
    [("detector", ModelReference("detector")), ("detector:3", ModelReference("detector", 3))],
)
def test_model_references(reference: str, expected: ModelReference) -> None:
    assert ModelReference.parse(reference) == expected
    assert str(expected) == reference


@pytest.mark.parametrize(
    "reference",
    ["detector:0", "detector:x", ":1", "a b", "detector\n", "detector:\u00b2", "detector:" + "9" * 5000],
)
def test_bad_model_references_are_rejected(reference: str) -> None:
    with pytest.raises(ValueError, match="model reference"):
        ModelReference.parse(reference)


def test_model_references_are_parsed_once_by_the_config() -> None:
    config = parse_config(VALID, "gateway.yaml")
    assert config.cameras[0].model == ModelReference("person-detector", 2)
    bad = VALID.replace("model: person-detector:2", "model: person-detector:zero")
    with pytest.raises(ConfigError, match=r"gateway.yaml:\d+: cameras\[0\]\.model: .*version must be"):
        parse_config(bad, "gateway.yaml")


def test_embedded_default_is_valid(tmp_path: Path) -> None:
    config = default_config(tmp_path)
    assert config.state_dir == tmp_path / "state"
    assert config.http.is_loopback


def test_the_embedded_default_names_what_a_checkout_has_that_a_directory_lacks(tmp_path: Path) -> None:
    config = default_config(tmp_path)
    assert missing_from_checkout(tmp_path) == [Path("models"), Path("build/demo/clip.mp4")]
    config.models.repository.mkdir()
    assert missing_from_checkout(tmp_path) == [Path("build/demo/clip.mp4")]
    clip = Path(config.cameras[0].url)
    clip.parent.mkdir(parents=True)
    clip.write_bytes(b"")
    assert missing_from_checkout(tmp_path) == []


def test_check_config_exits_2_on_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("http: {port: 99999}\n")
    assert main(["check-config", str(path)]) == 2
    assert f"{path}:1: http.port:" in capsys.readouterr().err
    path.write_text(VALID)
    assert main(["check-config", str(path)]) == 0


def test_systemd_directories_are_expanded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", "/run/credentials/edge-gateway.service")
    text = "mqtt: {url: 'mqtts://broker:8883', password_file: '${CREDENTIALS_DIRECTORY}/mqtt-password'}\n"
    config: GatewayConfig = parse_config(text)
    assert config.mqtt is not None
    assert config.mqtt.password_file == Path("/run/credentials/edge-gateway.service/mqtt-password")


def test_unknown_or_unset_variables_are_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    text = "state_dir: ${HOME}/x\nhttp:\n  tokens_file: ${CREDENTIALS_DIRECTORY}/tokens\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "g.yaml")
    assert [str(problem) for problem in caught.value.problems] == [
        "g.yaml:1: state_dir: ${HOME} is not one of CREDENTIALS_DIRECTORY, STATE_DIRECTORY, "
        "CONFIGURATION_DIRECTORY, RUNTIME_DIRECTORY",
        "g.yaml:3: http.tokens_file: ${CREDENTIALS_DIRECTORY} is not set",
    ]


def test_check_config_env_sets_only_the_variables_expansion_knows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", "/from/the/environment")
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    path = tmp_path / "gateway.yaml"
    path.write_text("state_dir: ${STATE_DIRECTORY}\nhttp: {tokens_file: '${CREDENTIALS_DIRECTORY}/tokens'}\n")
    # --env fills what the environment lacks
    assert main(["check-config", str(path)]) == 2
    assert "${CREDENTIALS_DIRECTORY} is not set" in capsys.readouterr().err
    # the tokens file is read as serve reads it, so it must be there
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "tokens").write_text("a-token\n")
    assert main(["check-config", str(path), "--env", f"CREDENTIALS_DIRECTORY={credentials}"]) == 0
    assert capsys.readouterr().out.startswith(f"{path}: ok")
    # the variables given replace the process environment's
    given = {"STATE_DIRECTORY": "/s", "CREDENTIALS_DIRECTORY": "/c"}
    assert load_config(path, given).state_dir == Path("/s")
    # anything else is refused by name before the file is read
    for argument, reason in [
        ("HOME=/root", "'HOME' is not one of CREDENTIALS_DIRECTORY"),
        ("STATE_DIRECTORY", "is not NAME=VALUE"),
    ]:
        with pytest.raises(SystemExit) as exited:
            main(["check-config", str(path), "--env", argument])
        assert exited.value.code == 2
        assert reason in capsys.readouterr().err


TRACKS = """\
device_id: jetson-01
state_dir: /tmp/state
cameras:
  - id: gate
    url: rtsp://127.0.0.1/stream1
    model: person-detector
    zones: [{name: yard, polygon: [[0.1, 0.5], [0.9, 0.5], [0.9, 1], [0.1, 1]]}]
    lines: [{name: door, points: [[0.5, 0.0], [0.5, 1.0]], in_direction: [1, 0]}]
    tracker: {max_lost_s: 2}
    rules:
      - {name: entering, type: line_crossing, labels: [person], line: door, direction: in}
      - {name: loitering, type: loiter, labels: [person], zones: [yard], min_s: 20}
      - {name: crowd, type: count, labels: [person], zones: [yard], min_count: 4, min_s: 2}
      - {name: left-bag, type: stationary, labels: [backpack], zones: [yard], min_s: 60}
"""


def test_the_design_example_of_track_rules_parses() -> None:
    camera = parse_config(TRACKS).cameras[0]
    assert [rule.type for rule in camera.rules] == ["line_crossing", "loiter", "count", "stationary"]
    assert camera.lines[0].in_direction == (1, 0)
    assert camera.tracker.max_lost_s == 2


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("line: door, direction: in", "line: gate, direction: in",
         r"gateway.yaml:11: cameras\[0\]\.rules\[0\]\.line: rule 'entering' names unknown line 'gate'"),
        ("line: door, direction: in", "direction: in", r"gateway.yaml:11: .*line_crossing rule needs 'line'"),
        ("zones: [yard], min_s: 20", "zones: [yard]", r"gateway.yaml:12: .*a loiter rule needs min_s"),
        ("min_count: 4, min_s: 2", "min_s: 2", r"gateway.yaml:13: .*a count rule needs min_count"),
        ("{name: left-bag, type: stationary", "{name: left-bag, line: door, type: stationary",
         r"gateway.yaml:14: .*'line' and 'direction' belong to line_crossing rules, not stationary"),
        ("points: [[0.5, 0.0], [0.5, 1.0]]", "points: [[0.5, 0.5], [0.5, 0.5]]",
         r"gateway.yaml:8: cameras\[0\]\.lines\[0\]: the line's two points must differ"),
        ("in_direction: [1, 0]", "in_direction: [0, 0]",
         r"gateway.yaml:8: .*in_direction must not be the zero"),
        ("in_direction: [1, 0]", "in_direction: [0, -1]",
         r"gateway.yaml:8: .*in_direction \[0(\.0)?, -1(\.0)?\] runs along the line .* point across it"),
        ("in_direction: [1, 0]", "in_direction: [0.01, 1]", r"gateway.yaml:8: .*runs along the line"),
        # NaN passes every comparison's negation: it was taken, and every crossing counted 'out'.
        ("in_direction: [1, 0]", "in_direction: [.nan, 0]",
         r"gateway.yaml:8: cameras\[0\]\.lines\[0\]\.in_direction\[0\]: must be a finite number, got \.nan"),
        ("in_direction: [1, 0]", "in_direction: [.inf, 0]",
         r"gateway.yaml:8: .*must be a finite number, got \.inf"),
        ("type: loiter", "type: linger",
         r"gateway.yaml:12: cameras\[0\]\.rules\[1\]\.type: must be .presence., .*got .linger."),
    ],
)  # fmt: skip
def test_track_rule_problems_point_at_their_line(old: str, new: str, message: str) -> None:
    assert old in TRACKS
    with pytest.raises(ConfigError, match=message):
        parse_config(TRACKS.replace(old, new), "gateway.yaml")


def test_problems_are_listed_in_the_files_order() -> None:
    # inference comes after http in the models; the file has it first
    text = "inference: {workers: 0}\nhttp: {port: 70000}\ncameras:\n  - id: gate\n    url: rtsp://127.0.0.1/gate\n"
    with pytest.raises(ConfigError) as raised:
        parse_config(text + "    detect_fps: 0\n", "gateway.yaml")
    assert [problem.line for problem in raised.value.problems] == [1, 2, 6]


def test_a_config_file_that_is_not_there_is_said_in_words(tmp_path: Path) -> None:
    # (it read "cannot read: [Errno 2] No such file or directory: '<the path again>'")
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path / "gateway.yaml")
    assert str(raised.value) == f"{tmp_path / 'gateway.yaml'}: cannot read: No such file or directory"
