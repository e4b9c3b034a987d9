"""The audit store's checks that need no stored state: each message of a batch sorted into a status,
an image or a verified alert, or rejected with its reason.

An alert passes when it is a well-formed alert v1 or v2, its topic names its device, the device's
key is known, its ``hash`` matches its content, its ``sig`` verifies with that key (any of the
device's keys, ``gateway.audit.keys_file``) and its bytes are
the canonical JSON of its fields (what the hash covers, and so what is stored); an image when its
topic names a device with a key and a seq, and its size is within MAX_IMAGE_BYTES; a status message
when its topic names a device with a key and ``gateway.audit.fleet`` parses it. No database is
touched here, so whatever a check did not foresee in one message (an exception of any kind) is
that message's rejection, never a stop that the broker's redelivery would repeat. What needs
stored state (duplicates, the chain, an image against its alert) is ``gateway.audit.store``'s.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Sequence

from gateway.audit.evidence import MAX_IMAGE_BYTES, ReceivedImage, evidence_target
from gateway.audit.fleet_status import ReceivedStatus, parse_status, status_target
from gateway.audit.keys_file import SigningKeys, key_rings, no_key, quoted_id, verify_signed
from gateway.audit.records import IngestResult, Outcome, ReceivedMessage, RejectReason
from gateway.domain import Alert
from gateway.printable import printable
from gateway.protocol.alerts import (
    MAX_SEQ,
    AlertVerificationError,
    InvalidAlertError,
    canonical_json,
    decode_alert,
)

__all__ = ["Checked", "MessageChecks", "device_from_topic"]

logger = logging.getLogger(__name__)


class _RejectedError(Exception):
    def __init__(self, reason: RejectReason, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(detail)


@dataclasses.dataclass(frozen=True, slots=True)
class Checked:
    """A batch after the checks that need no stored state: the results of the rejected by index,
    and what is left to write."""

    results: list[IngestResult | None]
    verified: list[tuple[int, Alert, ReceivedMessage]]
    images: dict[str, list[ReceivedImage]]
    statuses: dict[str, list[ReceivedStatus]]


def device_from_topic(topic: str, prefix: str) -> str | None:
    """``{prefix}/{device_id}/alerts`` -> device_id, or None for any other topic."""
    head = f"{prefix}/"
    if not topic.startswith(head) or not topic.endswith("/alerts"):
        return None
    device_id = topic[len(head) : -len("/alerts")]
    return device_id if device_id and "/" not in device_id else None


class MessageChecks:
    """The checks with the devices' signing keys and the topic prefix."""

    def __init__(self, keys: SigningKeys, topic_prefix: str) -> None:
        self.keys = key_rings(keys)
        self._prefix = topic_prefix

    def check(self, messages: Sequence[ReceivedMessage]) -> Checked:
        """Everything that needs no stored state; the rejected get their result here."""
        checked = Checked([None] * len(messages), [], {}, {})
        for index, message in enumerate(messages):
            status_device = status_target(message.topic, self._prefix)
            try:
                if status_device is not None and status_device not in self.keys:
                    # Refused like its alerts would be: a fleet row for every name anyone on the
                    # broker publishes a status under would hide the real devices among made-up ones.
                    detail = no_key(status_device)
                    checked.results[index] = IngestResult(
                        Outcome.REJECTED,
                        status_device,
                        None,
                        RejectReason.UNKNOWN_DEVICE,
                        detail,
                        status=True,
                    )
                    continue
                if status_device is not None:
                    parsed = parse_status(index, status_device, message)
                    if isinstance(parsed, IngestResult):
                        checked.results[index] = parsed
                    else:
                        checked.statuses.setdefault(status_device, []).append(parsed)
                    continue
                target = evidence_target(message.topic, self._prefix)
                if target is not None:
                    image = self._check_image(index, message, *target)
                    if isinstance(image, IngestResult):
                        checked.results[index] = image
                    else:
                        checked.images.setdefault(image.device_id, []).append(image)
                    continue
                checked.verified.append((index, self._verify(message), message))
            except _RejectedError as problem:
                device_id = device_from_topic(message.topic, self._prefix)
                checked.results[index] = IngestResult(
                    Outcome.REJECTED, device_id, None, problem.reason, problem.detail
                )
            except Exception as exc:
                # These checks touch no database: whatever they did not foresee in one message is
                # that message's rejection, never a stop that the broker's redelivery would repeat.
                logger.exception("audit: a message on %s could not be checked", printable(message.topic))
                detail = f"could not be checked: {type(exc).__name__}: {exc}"
                device_id = status_device or device_from_topic(message.topic, self._prefix)
                checked.results[index] = IngestResult(
                    Outcome.REJECTED, device_id, None, RejectReason.SCHEMA, detail, status=bool(status_device)
                )
        return checked

    def topic_device(self, message: ReceivedMessage) -> str | None:
        """The device a status, evidence or alert topic names."""
        image = evidence_target(message.topic, self._prefix)
        return (
            status_target(message.topic, self._prefix)
            or (image[0] if image else None)
            or device_from_topic(message.topic, self._prefix)
        )

    def _verify(self, message: ReceivedMessage) -> Alert:
        """Schema, topic, key, hash and signature: everything that needs no stored state."""
        topic_device = device_from_topic(message.topic, self._prefix)
        key = None if topic_device is None else self.keys.get(topic_device)
        try:
            if key is None:
                alert = decode_alert(message.payload)
                self._check_topic(alert, message.topic, topic_device)
                raise _RejectedError(RejectReason.UNKNOWN_DEVICE, no_key(alert.device_id))
            alert = verify_signed(message.payload, key)
        except InvalidAlertError as exc:
            raise _RejectedError(RejectReason.SCHEMA, str(exc)) from exc
        except AlertVerificationError as exc:
            # Checked with the key of the topic's device: a payload of another device fails here.
            self._check_topic(decode_alert(message.payload), message.topic, topic_device)
            raise _RejectedError(RejectReason(exc.reason), str(exc)) from exc
        self._check_topic(alert, message.topic, topic_device)
        if canonical_json(json.loads(message.payload)) != message.payload:
            # The hash covers the canonical JSON of the fields, not the bytes received: bytes with
            # whitespace, escapes or another key order would be stored as the alert while no
            # signature covers them. Every conforming device publishes canonical JSON.
            raise _RejectedError(
                RejectReason.SCHEMA,
                f"seq {alert.seq}: not canonical JSON (keys sorted, no whitespace, separators ',' "
                "and ':', UTF-8 unescaped), so these bytes are not the ones signed",
            )
        return alert

    def _check_image(
        self, index: int, message: ReceivedMessage, device_id: str, seq: int | None
    ) -> ReceivedImage | IngestResult:
        """What can be checked of an image without stored state: its topic, device and size."""
        if seq is None:
            detail = f"the topic names no seq from 1 to {MAX_SEQ}"
            return IngestResult(
                Outcome.REJECTED, device_id, None, RejectReason.EVIDENCE, detail, evidence=True
            )
        problem = None
        if device_id not in self.keys:
            problem = (RejectReason.UNKNOWN_DEVICE, no_key(device_id))
        elif len(message.payload) > MAX_IMAGE_BYTES:
            problem = (RejectReason.EVIDENCE, f"{len(message.payload)} bytes, over {MAX_IMAGE_BYTES}")
        elif not message.payload:
            problem = (RejectReason.EVIDENCE, "an empty message")
        if problem is not None:
            return IngestResult(Outcome.REJECTED, device_id, seq, *problem, evidence=True)
        return ReceivedImage(index, device_id, seq, hashlib.sha256(message.payload).hexdigest(), message)

    @staticmethod
    def _check_topic(alert: Alert, topic: str, topic_device: str | None) -> None:
        if topic_device != alert.device_id:
            raise _RejectedError(
                RejectReason.TOPIC, f"topic {topic!r} does not name device {quoted_id(alert.device_id)}"
            )
