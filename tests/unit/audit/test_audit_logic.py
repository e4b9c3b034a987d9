"""Pure parts of the audit log: replay timing, keys file, topic parsing, the verify report."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.audit.keys_file import load_keys
from gateway.audit.replay import ReplayScheduler
from gateway.audit.store import DeviceProgress, device_from_topic
from gateway.audit.verify import DeviceReport, VerifyReport
from gateway.errors import AuditError


def gap(device_id: str = "box") -> DeviceProgress:
    return DeviceProgress(device_id, contiguous_seq=3, max_seq=7)


def closed(device_id: str = "box") -> DeviceProgress:
    return DeviceProgress(device_id, contiguous_seq=7, max_seq=7)


def test_a_gap_is_asked_for_only_after_replay_after_s_then_with_doubling_waits() -> None:
    scheduler = ReplayScheduler(replay_after_s=5.0, max_interval_s=30.0)
    scheduler.observe([gap()], now=100.0)

    # (now, devices due): first at +5, then waits of 10, 20, 30 (capped), 30
    timeline = [(104.9, []), (105.0, ["box"]), (114.9, []), (115.0, ["box"]), (135.0, ["box"]),
                (164.9, []), (165.0, ["box"]), (195.0, ["box"])]  # fmt: skip
    assert [(now, scheduler.due(now)) for now, _ in timeline] == timeline


def test_a_gap_that_closes_is_forgotten_and_a_new_one_waits_again() -> None:
    scheduler = ReplayScheduler(replay_after_s=2.0)
    scheduler.observe([gap("a"), gap("b")], now=0.0)
    scheduler.observe([closed("a")], now=1.0)
    assert scheduler.open_gaps == 1
    assert scheduler.due(2.0) == ["b"]
    scheduler.observe([closed("b")], now=3.0)
    assert scheduler.open_gaps == 0

    scheduler.observe([gap("a")], now=10.0)
    scheduler.observe([gap("a")], now=11.0)  # still the same gap: its wait does not restart
    assert scheduler.due(11.9) == []
    assert scheduler.due(12.0) == ["a"]


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        ("edge/box-1/alerts", "box-1"),
        ("edge/box-1/status", None),
        ("other/box-1/alerts", None),
        ("edge//alerts", None),
        ("edge/a/b/alerts", None),
    ],
)
def test_the_device_is_read_from_the_alerts_topic(topic: str, expected: str | None) -> None:
    assert device_from_topic(topic, "edge") == expected


def test_keys_files_are_yaml_or_json_of_hex_keys(tmp_path: Path) -> None:
    key = bytes(range(32))
    (tmp_path / "keys.json").write_text(f'{{"box-1": "{key.hex()}"}}')
    (tmp_path / "keys.yaml").write_text(f"box-1: {key.hex()}\nbox-2: '{key.hex().upper()}'\n")
    assert load_keys(tmp_path / "keys.json") == {"box-1": (key,)}
    assert load_keys(tmp_path / "keys.yaml") == {"box-1": (key,), "box-2": (key,)}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("- a\n- b\n", "must be a mapping"),
        ("box: nothex-secret-value\n", 'key of device "box" is not hex'),
        ("box: abcd\n", "shorter than 16 bytes"),
        # PyYAML's message quotes the lines around a syntax error
        ("box-1: secret0000\nbox-2 secret1111\nbox-3: 'secret2222\n", "not valid YAML at line 3, column 1"),
        ("box-1: secret0000\n  box-2: secret1111\n", "not valid YAML at line 2, column 8"),
    ],
)
def test_bad_keys_files_are_errors_that_do_not_print_the_key(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text(content)
    with pytest.raises(AuditError, match=message) as caught:
        load_keys(path)
    assert "secret" not in str(caught.value)


def test_the_report_names_every_problem_and_fails() -> None:
    device = DeviceReport("box", 9, 1, 12, ((4, 5), (9, 9)), (7,), (2,), (11,), 1, True)
    assert device.problems == [
        "3 missing seq (4-5, 9)",
        "chain breaks at seq 7",
        "content does not match its hash at seq 2",
        "bad signatures at seq 11",
        "1 rejected messages",
    ]
    clean = DeviceReport("other", 3, 1, 3, (), (), (), (), 0, True)
    assert VerifyReport((clean,), keys_given=True).ok
    assert not VerifyReport((clean, device), keys_given=True).ok
    assert not VerifyReport((clean,), unattributed_rejected=1).ok
    assert VerifyReport((clean,)).render().splitlines() == [
        "other: 3 alerts, seq 1..3, signatures checked: ok",
        "OK",
    ]
