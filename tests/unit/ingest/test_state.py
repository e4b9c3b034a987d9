from __future__ import annotations

import itertools

import pytest

from gateway.domain import CameraState
from gateway.ingest.state import ALLOWED, CameraStateError, CameraStateMachine


def machine_in(state: CameraState) -> CameraStateMachine:
    machine = CameraStateMachine("cam")
    path = {
        CameraState.STOPPED: [],
        CameraState.CONNECTING: [CameraState.CONNECTING],
        CameraState.STREAMING: [CameraState.CONNECTING, CameraState.STREAMING],
        CameraState.RECONNECTING: [CameraState.CONNECTING, CameraState.STREAMING, CameraState.RECONNECTING],
        CameraState.FAILED: [CameraState.CONNECTING, CameraState.FAILED],
    }[state]
    for step in path:
        machine.move(step)
    assert machine.state is state
    return machine


@pytest.mark.parametrize(("source", "target"), list(itertools.product(CameraState, CameraState)))
def test_every_move_is_either_allowed_or_an_error(source: CameraState, target: CameraState) -> None:
    machine = machine_in(source)
    if target in ALLOWED[source]:
        assert machine.move(target) is source
        assert machine.state is target
    else:
        with pytest.raises(CameraStateError, match=f"{source.value} -> {target.value}"):
            machine.move(target)
        assert machine.state is source


def test_every_state_can_stop_and_stopped_only_starts() -> None:
    for state in CameraState:
        if state is not CameraState.STOPPED:
            assert CameraState.STOPPED in ALLOWED[state]
    assert ALLOWED[CameraState.STOPPED] == {CameraState.CONNECTING}


def test_move_if_only_moves_from_the_expected_states() -> None:
    changes: list[tuple[CameraState, CameraState]] = []
    machine = CameraStateMachine("cam", lambda old, new: changes.append((old, new)))
    machine.move(CameraState.CONNECTING)
    assert not machine.move_if(frozenset({CameraState.STREAMING}), CameraState.RECONNECTING)
    assert machine.move_if(frozenset({CameraState.CONNECTING}), CameraState.STREAMING)
    assert changes == [
        (CameraState.STOPPED, CameraState.CONNECTING),
        (CameraState.CONNECTING, CameraState.STREAMING),
    ]
