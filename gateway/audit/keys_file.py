"""The audit keys file: each device's HMAC signing keys, and checking an alert with them.

A YAML or JSON mapping of device id to its key in hex, or to a list of its keys, the current one
first and older ones after::

    gate-01: 6f1c...               # one key
    gate-02: [9ab4..., 6f1c...]    # re-keyed: the new key, then the one it replaced

A device re-keyed keeps its older key listed for as long as alerts signed with it may still arrive
(a replay of alerts from before the rotation, a queue drained after it): an alert verifies under
any of its device's keys. With the single key only, such alerts were rejected as bad signatures.
What is listed is checked when the file is read (``load_keys``): ids that no MQTT topic level or
URL path can hold, ids named twice, keys that are not hex, shorter than ``MIN_KEY_BYTES`` or listed
twice for one device, each named with its device, never with a key.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from gateway.config import read_text_file
from gateway.config.bounded_read import READ_WAIT_S, refuse_irregular
from gateway.config.settled_read import SETTLE_S, SettledFile
from gateway.config.text_file import text_problem
from gateway.domain import Alert
from gateway.errors import AuditError, ConfigError
from gateway.protocol.alerts import AlertVerificationError, decode_alert, sign, verify_payload

__all__ = [
    "MIN_KEY_BYTES",
    "KeyRing",
    "SettledKeys",
    "SigningKeys",
    "key_rings",
    "keys_in",
    "load_keys",
    "no_key",
    "quoted_id",
    "verify_signed",
]

MIN_KEY_BYTES = 16
KEYS_SETTING = "keys_file"
"""The setting that names the keys file, in a settled read's errors."""

KeyRing = tuple[bytes, ...]
"""A device's keys, the current one first."""
SigningKeys = Mapping[str, bytes | Sequence[bytes]]
"""Device id -> its key, or its keys (the current one first)."""

TOPIC_LEVEL_BREAKERS = ("/", "+", "#", "\x00")
"""What a device id cannot hold: it is one MQTT topic level (``{prefix}/{device_id}/alerts``), which
``/`` splits, ``+`` and ``#`` are wildcards in and NUL is not allowed in, so no topic could ever
name that device and its alerts would all be refused as from a device with no key."""


TOPIC_LEVEL_RULE = (
    "it must be non-empty, without '/', '+', '#', NUL, control characters or Unicode noncharacters"
)
MAX_ID_BYTES = 1024
"""The longest device id, in UTF-8 bytes. A URL naming a device (``/v1/devices/{id}/alerts/{seq}/
evidence.jpg``) holds each byte of it percent-encoded, as three, and the audit's HTTP API reads a
request line of at most 8,190 bytes; a PostgreSQL index entry holds at most 2,704. Longer, a listed
device was stored (on SQLite) but its page and its alerts could never be opened."""


def _mqtt_refuses(character: str) -> bool:
    """What MQTT asks a topic not to hold (MQTT 5.0, 1.5.4): control characters (U+0001 to U+001F,
    U+007F to U+009F) and Unicode noncharacters; mosquitto drops the connection of a client that
    publishes such a topic, so no alert of a device named so could arrive."""
    code = ord(character)
    return code < 0x20 or 0x7F <= code <= 0x9F or 0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE


PATH_STEPS = frozenset({".", ".."})
"""Ids a URL cannot name: ``/v1/devices/..`` is a path step to ``/v1/`` for browsers and HTTP
clients (``%2E%2E`` too, by the URL standard), so the fleet page could never open such a device."""


_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}
"""The escapes JSON and YAML's double quotes both read as these characters."""


def quoted_id(device_id: str) -> str:
    """``device_id`` in double quotes, as every message shows a device id: pasted into the keys file
    (YAML, whose double quotes read JSON's escapes) it names this very device. Python's repr quoting
    did not: ``'box\\x01'`` in YAML's single quotes is a backslash and three characters, another id.
    Printable text stays as it is; the rest is escaped as JSON does (``\\n``, ``\\u0001``), and a
    character past U+FFFF as YAML's ``\\U000e0001`` (PyYAML reads JSON's surrogate pair for it as
    two lone surrogates). One line, whatever the id holds."""
    if device_id.isprintable() and '"' not in device_id and "\\" not in device_id:
        return f'"{device_id}"'
    return '"' + "".join(_quoted_character(character) for character in device_id) + '"'


def _quoted_character(character: str) -> str:
    if (escape := _SHORT_ESCAPES.get(character)) is not None:
        return escape
    if character.isprintable():
        return character
    code = ord(character)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def key_rings(keys: SigningKeys) -> dict[str, KeyRing]:
    """Every device's keys as a ring; a device given an empty list has no key."""
    rings = {device: (key,) if isinstance(key, bytes) else tuple(key) for device, key in keys.items()}
    return {device: ring for device, ring in rings.items() if ring}


def verify_signed(payload: bytes, ring: Sequence[bytes]) -> Alert:
    """Decode and verify ``payload`` (``verify_payload``) with any of its device's keys, the current
    one first; raises what the first one raised when none verifies it. The payload is decoded and
    hashed once, not once a key: a device listed with hundreds of keys made each forged message cost
    hundreds of decodes (a flood of them, hundreds of times the CPU). Only the signature differs
    from key to key, and a hash that does not match its content fails the same under every key."""
    try:
        return verify_payload(payload, ring[0])
    except AlertVerificationError as exc:
        if exc.reason != "signature" or len(ring) == 1:
            raise
        refused = exc
    # The first key's check found the hash to match the content: only the signature is left.
    alert = decode_alert(payload)
    for key in ring[1:]:
        if hmac.compare_digest(sign(alert.hash, key), alert.sig):
            return alert
    raise refused


def no_key(device_id: str) -> str:
    """Why a message of ``device_id`` is refused for want of a key: for an id no keys file can list
    (a URL path step, text that is not Unicode), that it never can be, not to add it to the file."""
    reason = _unusable(device_id)
    if reason is None:
        return f"no key for device {quoted_id(device_id)} in the keys file"
    return f"no key for device {quoted_id(device_id)}, and no keys file can list it: its id {reason}"


def _unusable(name: str) -> str | None:
    """Why ``name`` cannot be a device id, or None when it can."""
    if not name or any(character in TOPIC_LEVEL_BREAKERS or _mqtt_refuses(character) for character in name):
        return f"cannot be an MQTT topic level ({TOPIC_LEVEL_RULE}), so no alert could name it"
    if name in PATH_STEPS:
        return "is a URL path step ('.' or '..'), so the fleet API and page could never name it"
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        return "is not valid Unicode (a lone surrogate), so no MQTT topic, which is UTF-8, could name it"
    if size > MAX_ID_BYTES:
        return (
            f"is {size:,} bytes long in UTF-8, more than {MAX_ID_BYTES:,}: no URL of the fleet API "
            "could name it, nor a PostgreSQL index hold it"
        )
    return None


def _joined(text: str) -> str:
    """``text`` with each surrogate pair joined into the character it encodes: JSON writes a character
    past U+FFFF as one (``json.dumps`` of an emoji), and PyYAML reads it as two lone surrogates."""
    try:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
    except UnicodeDecodeError:  # a lone surrogate, said so where the id is checked
        return text


class _UnusableDeviceIdError(yaml.YAMLError):
    def __init__(self, name: str, line: int, reason: str) -> None:
        self.name = name
        self.line = line
        self.reason = reason
        super().__init__(name)


class _KeysLoader(yaml.BaseLoader):
    """Every scalar as written (safe_load reads the device id 007 as the integer 7, "on" as True and
    1.10 as 1.1, so those devices' alerts were refused for want of a key that is there), and a device
    named twice is an error (else the later key wins without a word), as is a device id no MQTT
    topic level can hold."""

    def construct_document(self, node: yaml.Node) -> Any:
        self._top = node
        return super().construct_document(node)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        if node is not getattr(self, "_top", None):
            # A mapping in a device's place is no key, and said so with that device; its keys are
            # no device ids.
            return super().construct_mapping(node, deep)
        seen: set[str] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise yaml.constructor.ConstructorError(
                    None, None, "a device id must be one text, not a list or mapping", key_node.start_mark
                )
            name = key_node.value = _joined(key_node.value)
            if name in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"device {quoted_id(name)} is named twice", key_node.start_mark
                )
            if (reason := _unusable(name)) is not None:
                raise _UnusableDeviceIdError(name, key_node.start_mark.line + 1, reason)
            seen.add(name)
        return super().construct_mapping(node, deep)


def load_keys(path: Path) -> dict[str, KeyRing]:
    """A YAML or JSON mapping of device_id -> hex HMAC key, or a list of them with the current one
    first (JSON is YAML, so one parser reads both)."""
    return keys_in(_keys_text(path), path)


class SettledKeys:
    """The keys file as a reload reads it (``audit serve`` on SIGHUP), as a gateway's reload reads
    its config and tokens: only a regular file, each read on a thread of its own waited for
    ``wait_s`` at most (``gateway.config.bounded_read``: a dead mount fails the reload, naming the
    file, instead of holding the service and SIGTERM behind it), and until two reads ``settle_s``
    apart agree (``gateway.config.settled_read``), so a keys file a tool is writing in place is not
    applied cut short, refusing every device whose key was not written yet. ``read``: how the text
    is read (tests pass one that writes between reads)."""

    def __init__(
        self,
        path: Path,
        *,
        read: Callable[[Path], str] | None = None,
        settle_s: float = SETTLE_S,
        wait_s: float = READ_WAIT_S,
    ) -> None:
        self.path = path
        self._file = SettledFile(
            read or _regular_keys_text, KEYS_SETTING, name="keys-file-read", wait_s=wait_s, settle_s=settle_s
        )

    def load(self) -> dict[str, KeyRing]:
        """``load_keys`` of the file once settled; AuditError naming the file for one that is no
        regular file, cannot be read in time or is still changing after ``wait_s``."""
        try:
            text = self._file.text(self.path)
        except ConfigError as exc:
            raise AuditError(f"the keys file {exc}") from None
        return keys_in(text, self.path)


def _regular_keys_text(path: Path) -> str:
    refuse_irregular(path, KEYS_SETTING)
    return _keys_text(path)


def _keys_text(path: Path) -> str:
    try:
        return read_text_file(path)
    except (OSError, UnicodeDecodeError) as exc:
        # Named as the config and the tokens file are: undecodable bytes by line and column.
        raise AuditError(f"the keys file {text_problem(exc, str(path), secret=True)}") from exc


def keys_in(text: str, path: Path) -> dict[str, KeyRing]:
    """The keys of a keys file's ``text`` (``load_keys``); ``path`` names the file in errors."""
    try:
        data = yaml.load(text, Loader=_KeysLoader)
    except yaml.reader.ReaderError as exc:
        # A character YAML does not take (a control character, U+FFFE): PyYAML names it by its place
        # in the whole text, with no line.
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        raise AuditError(
            f"the keys file {path} is not valid YAML at line {line}, column {column}: the character "
            f"U+{exc.character:04X} is not allowed in YAML"
        ) from None
    except _UnusableDeviceIdError as exc:
        raise AuditError(f"{path}, line {exc.line}: device id {quoted_id(exc.name)} {exc.reason}") from None
    except yaml.YAMLError as exc:
        if (key_line := _long_plain_key(exc)) is not None:
            raise AuditError(
                f"{path}, line {key_line}: a device id (an unquoted key) of more than {_LONGEST_PLAIN_KEY:,} "
                f"characters: longer than a device id may be ({MAX_ID_BYTES:,} bytes in UTF-8)"
            ) from None
        # PyYAML's own message quotes the lines around the problem, and those hold keys (so it is
        # not chained either: a traceback would print it).
        mark = getattr(exc, "problem_mark", None)
        where = "" if mark is None else f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or "not YAML or JSON"
        raise AuditError(f"the keys file {path} is not valid YAML{where}: {problem}") from None
    except RecursionError:
        # PyYAML composes recursively: a few thousand '[' exhaust the interpreter's stack.
        raise AuditError(f"the keys file {path} is not valid YAML: values nested too deep") from None
    if not isinstance(data, dict):
        raise AuditError(f"{path}: must be a mapping of device_id to hex key (or a list of hex keys)")
    return {device_id: _ring(path, device_id, value) for device_id, value in data.items()}


_LONGEST_PLAIN_KEY = 1024
"""The most characters PyYAML reads as an unquoted key (YAML 1.1's simple key): a longer one was said
to be YAML's "could not find expected ':'"."""


def _long_plain_key(error: yaml.YAMLError) -> int | None:
    """The line of the unquoted key longer than YAML reads as one that ``error`` is about, if any."""
    if not isinstance(error, yaml.scanner.ScannerError) or error.context != "while scanning a simple key":
        return None
    start, end = error.context_mark, error.problem_mark
    if start is None or end is None or end.index - start.index <= _LONGEST_PLAIN_KEY:
        return None
    return int(start.line) + 1


def _ring(path: Path, device_id: object, value: object) -> KeyRing:
    """One device's entry: a hex key, or a non-empty list of them."""
    listed = value if isinstance(value, list) else [value]
    # Each item's type is checked before anything reads it as text (no str() of it): a list or
    # mapping here may be an alias bomb of billions.
    if not isinstance(device_id, str) or not all(isinstance(item, str) for item in listed):
        shown = quoted_id(device_id) if isinstance(device_id, str) else "a list or mapping"
        raise AuditError(
            f"{path}: device {shown} must be a device id and a hex key or a list of hex keys, all text"
        )
    if not listed:
        raise AuditError(
            f"{path}: device {quoted_id(device_id)} has an empty list of keys (give at least one)"
        )
    ring: list[bytes] = []
    for number, hex_key in enumerate(listed, start=1):
        # The key itself stays out of every message: it is a secret.
        which = (
            f"the key of device {quoted_id(device_id)}"
            if len(listed) == 1
            else f"key {number} of device {quoted_id(device_id)}"
        )
        try:
            key = bytes.fromhex(hex_key)
        except ValueError as exc:
            raise AuditError(f"{path}: {which} is not hex") from exc
        if len(key) < MIN_KEY_BYTES:
            raise AuditError(f"{path}: {which} is shorter than {MIN_KEY_BYTES} bytes")
        if key in ring:
            raise AuditError(f"{path}: {which} repeats key {ring.index(key) + 1}: list each key once")
        ring.append(key)
    return tuple(ring)
