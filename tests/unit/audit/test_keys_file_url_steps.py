"""A device id the fleet API and page can never name is refused in the keys file, with its line.

``.`` and ``..`` are path steps in a URL: a browser (and any HTTP client following the URL standard)
resolves ``/v1/devices/..`` to ``/v1/``, and ``%2E%2E`` the same way, so the fleet page could never
open such a device, while the keys file took it without a word. A lone surrogate (YAML's
``"\\ud800"``) can be no UTF-8 MQTT topic, and the page's ``encodeURIComponent`` throws on it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.audit.verify import load_keys
from gateway.errors import AuditError

KEY = bytes(range(32)).hex()


@pytest.mark.parametrize("device_id", [".", ".."])
def test_a_device_id_that_is_a_url_path_step_is_refused_with_its_line(tmp_path: Path, device_id: str) -> None:
    # Given a keys file whose second line names the device "." or ".."
    path = tmp_path / "keys.yaml"
    path.write_text(f'box-a: {KEY}\n"{device_id}": {KEY}\n')

    # When it is read, then the error names the id and its line, and says why, without the key
    with pytest.raises(AuditError) as caught:
        load_keys(path)
    message = str(caught.value)
    assert f"line 2: device id {device_id!r}" in message
    assert "URL path step" in message
    assert KEY not in message


def test_a_device_id_that_no_utf8_topic_can_hold_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text(f'box-a: {KEY}\n"box-\\ud800": {KEY}\n')
    with pytest.raises(AuditError, match=r"line 2: device id .* not valid Unicode"):
        load_keys(path)


def test_ids_with_dots_that_are_not_path_steps_still_load(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text(f"'...': {KEY}\n.box: {KEY}\nbox.: {KEY}\n'%2e%2e': {KEY}\n")
    assert set(load_keys(path)) == {"...", ".box", "box.", "%2e%2e"}
