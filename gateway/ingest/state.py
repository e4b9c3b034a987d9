"""The camera state machine: the allowed moves between ``CameraState`` values, under a lock.

::

    STOPPED ──start──► CONNECTING ──first frame──► STREAMING ◄──────────────┐
                           │                         │  read failed / hung   │ reopened
                           │ open failed             ▼                       │
                           └──────────────► FAILED ◄─── RECONNECTING ────────┘
                                              │   3 failed reopen attempts
                                              └──reopened──► STREAMING

Every state may move to STOPPED. Failed attempts while FAILED or RECONNECTING keep the state (the
reader keeps retrying with backoff) so consumers see one change per real event, not a flap per try.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

from gateway.domain import CameraState
from gateway.errors import GatewayError

ALLOWED: Mapping[CameraState, frozenset[CameraState]] = {
    CameraState.STOPPED: frozenset({CameraState.CONNECTING}),
    CameraState.CONNECTING: frozenset({CameraState.STREAMING, CameraState.FAILED, CameraState.STOPPED}),
    CameraState.STREAMING: frozenset({CameraState.RECONNECTING, CameraState.STOPPED}),
    CameraState.RECONNECTING: frozenset({CameraState.STREAMING, CameraState.FAILED, CameraState.STOPPED}),
    CameraState.FAILED: frozenset({CameraState.STREAMING, CameraState.STOPPED}),
}


class CameraStateError(GatewayError):
    """A move the state machine does not allow: a bug in the caller, never a camera fault."""


Listener = Callable[[CameraState, CameraState], None]


class CameraStateMachine:
    def __init__(self, camera_id: str, listener: Listener | None = None) -> None:
        self.camera_id = camera_id
        self._state = CameraState.STOPPED
        self._lock = threading.Lock()
        self._listener = listener

    @property
    def state(self) -> CameraState:
        return self._state

    def move(self, target: CameraState) -> CameraState:
        """Move to ``target``; return the previous state. Raises CameraStateError on an illegal move."""
        with self._lock:
            previous = self._state
            if target not in ALLOWED[previous]:
                raise CameraStateError(
                    f"camera {self.camera_id}: illegal state move {previous.value} -> {target.value}"
                )
            self._state = target
        if self._listener is not None:
            self._listener(previous, target)
        return previous

    def move_if(self, expected: frozenset[CameraState], target: CameraState) -> bool:
        """Move to ``target`` only from one of ``expected`` (atomically); True if it moved."""
        with self._lock:
            previous = self._state
            if previous not in expected:
                return False
            if target not in ALLOWED[previous]:
                raise CameraStateError(
                    f"camera {self.camera_id}: illegal state move {previous.value} -> {target.value}"
                )
            self._state = target
        if self._listener is not None:
            self._listener(previous, target)
        return True
