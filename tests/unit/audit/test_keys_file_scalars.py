"""Device ids in a keys file are text as written. PyYAML's safe_load reads YAML 1.1 scalars, so the
unquoted device id ``007`` became the integer 7 (then "7"), ``on`` became True ("True") and
``1.10`` became 1.1: each such device's alerts were refused as ``unknown_device`` ("no key for
device '007' in the keys file") while its key was in the file. A hex key made only of decimal digits
lost its leading zeros the same way. A device named twice is an error, no longer the later key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.audit.keys_file import load_keys
from gateway.errors import AuditError

KEY = bytes(range(32))


def test_unquoted_device_ids_and_keys_are_read_as_written(tmp_path: Path) -> None:
    # Given a YAML keys file whose device ids YAML 1.1 would read as numbers, booleans or null.
    digits = "0123456789" * 6 + "0123"
    path = tmp_path / "keys.yaml"
    path.write_text(
        f"007: {KEY.hex()}\non: {KEY.hex()}\n1.10: {KEY.hex()}\nnull: {KEY.hex()}\nbox-9: {digits}\n"
    )

    # Then each device id and key is the text in the file.
    assert load_keys(path) == {
        "007": (KEY,),
        "on": (KEY,),
        "1.10": (KEY,),
        "null": (KEY,),
        "box-9": (bytes.fromhex(digits),),
    }


def test_a_json_keys_file_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text(f'{{"007": "{KEY.hex()}", "box-1": "{KEY.hex()}"}}')
    assert load_keys(path) == {"007": (KEY,), "box-1": (KEY,)}


@pytest.mark.parametrize(
    "text",
    [
        f"box-1: {KEY.hex()}\nbox-2: {KEY.hex()}\nbox-1: {'ab' * 32}\n",
        f'{{"box-1": "{KEY.hex()}", "box-1": "{"ab" * 32}"}}',
    ],
)
def test_a_device_named_twice_is_an_error_naming_it_and_its_line(tmp_path: Path, text: str) -> None:
    # Before, the later key won without a word, and the device's alerts signed with the other failed.
    path = tmp_path / "keys.yaml"
    path.write_text(text)
    with pytest.raises(AuditError, match=r'line [13], .*device "box-1" is named twice') as raised:
        load_keys(path)
    assert KEY.hex() not in str(raised.value)


def _doubling_aliases(times: int) -> str:
    """One list whose last item is 2 ** ``times`` strings, written in a few hundred bytes."""
    items = ["&a0 [x, x]"] + [f"&a{level} [*a{level - 1}, *a{level - 1}]" for level in range(1, times)]
    return "[" + ", ".join(items) + "]"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[" * 5000, "nested too deep"),
        # str() of this "key" (2^40 strings) would never end
        (
            "bomb: " + _doubling_aliases(40) + "\n",
            'device "bomb" must be a device id and a hex key or a list of hex keys, all text',
        ),
        (
            f"box-1: {{key: {KEY.hex()}}}\n",
            'device "box-1" must be a device id and a hex key or a list of hex keys, all text',
        ),
        (
            f"box-1: [{KEY.hex()}, [{KEY.hex()}]]\n",
            'device "box-1" must be a device id and a hex key or a list of hex keys, all text',
        ),
    ],
)
def test_a_keys_file_that_is_not_ids_and_keys_is_named_at_once(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text(text)
    with pytest.raises(AuditError, match=re.escape(problem)) as raised:
        load_keys(path)
    assert KEY.hex() not in str(raised.value)
