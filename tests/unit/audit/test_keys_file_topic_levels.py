"""A device id is one MQTT topic level (``{prefix}/{device_id}/alerts``). An id in the keys file
holding ``/``, ``+`` or ``#`` (or empty, or with a NUL) can never be what a topic names, so its
device's alerts were all refused as ``unknown_device`` while its key sat in the file, without a
word at start. Such an id is refused when the keys file is read, naming the id and its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.audit.verify import load_keys
from gateway.errors import AuditError

KEY = bytes(range(32)).hex()


@pytest.mark.parametrize("device_id", ["site/box-1", "box+1", "box#1", ""])
def test_a_device_id_no_topic_level_can_hold_is_refused_with_its_line(tmp_path: Path, device_id: str) -> None:
    # Given a YAML keys file whose third line names a device id no topic can carry
    path = tmp_path / "keys.yaml"
    path.write_text(f'box-a: {KEY}\nbox-b: {KEY}\n"{device_id}": {KEY}\n')

    # When it is read, then the error names the id and its line, and says why
    with pytest.raises(AuditError) as caught:
        load_keys(path)
    message = str(caught.value)
    assert f"line 3: device id {device_id!r}" in message
    assert "MQTT topic level" in message
    assert KEY not in message


def test_a_json_keys_file_names_the_line_too(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text(f'{{\n  "box-a": "{KEY}",\n  "fleet/box-b": "{KEY}"\n}}\n')
    with pytest.raises(AuditError, match=r"line 3: device id 'fleet/box-b'"):
        load_keys(path)


def test_ids_with_other_punctuation_still_load(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text(f"box-1.site_a: {KEY}\n'box 2': {KEY}\n")
    assert set(load_keys(path)) == {"box-1.site_a", "box 2"}
