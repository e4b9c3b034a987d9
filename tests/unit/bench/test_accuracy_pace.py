"""Paced playback's rules, with reader threads as the cameras' would be: a camera takes its next frame
only once the one before was judged or dropped, all cameras together hold at most the slots, and
frames are stamped on the clip's own clock."""

from __future__ import annotations

import threading
import time

from bench.accuracy_pace import PipelinePace

FAST_FPS = 1000.0
"""A frame interval (1 ms) that never holds a take back, so only the judgements do."""
SETTLED_S = 0.3
"""How long a take that must not happen is given to happen anyway (a wrong pass, never a wrong fail)."""
DEADLINE_S = 10.0


def take(pace: PipelinePace, camera_id: str) -> None:
    pace.before_take(camera_id, last=False)
    pace.after_take(camera_id)


def take_in_thread(pace: PipelinePace, camera_id: str) -> threading.Event:
    taken = threading.Event()

    def run() -> None:
        take(pace, camera_id)
        taken.set()

    threading.Thread(target=run, daemon=True).start()
    return taken


def test_a_camera_takes_its_next_frame_only_once_the_rules_judged_the_one_before() -> None:
    # Given a camera whose first frame is out
    pace = PipelinePace({"gate": FAST_FPS})
    pace.bind(4, lambda _camera_id: 0)
    take(pace, "gate")

    # When its reader asks for the next frame, the rules judge the first
    taken = take_in_thread(pace, "gate")
    held = not taken.wait(SETTLED_S)
    pace.judged("gate", 1)

    # Then it waited for the judgement, and took the frame after it
    assert held
    assert taken.wait(DEADLINE_S)


def test_a_dropped_frame_lets_its_camera_go_on() -> None:
    # Given a camera whose first frame is out, and its drop count
    drops = {"gate": 0}
    pace = PipelinePace({"gate": FAST_FPS})
    pace.bind(4, lambda camera_id: drops[camera_id])
    take(pace, "gate")

    # When the camera counts that frame dropped (the rules will never see it)
    taken = take_in_thread(pace, "gate")
    drops["gate"] = 1

    # Then the next frame is taken all the same
    assert taken.wait(DEADLINE_S)


def test_cameras_together_hold_at_most_the_slots() -> None:
    # Given one slot and a camera whose frame holds it
    pace = PipelinePace({"gate": FAST_FPS, "yard": FAST_FPS})
    pace.bind(1, lambda _camera_id: 0)
    take(pace, "gate")

    # When another camera asks for its first frame, and the first camera's frame is judged and its
    # reader comes back for the next
    yard = take_in_thread(pace, "yard")
    held = not yard.wait(SETTLED_S)
    pace.judged("gate", 1)
    pace.before_take("gate", last=True)

    # Then the other camera waited for the slot, and took its frame once it was free
    assert held
    assert yard.wait(DEADLINE_S)


def test_frames_are_stamped_on_the_clip_clock_never_ahead_of_the_wall_clock() -> None:
    # Given a 10 fps clip
    pace = PipelinePace({"gate": 10.0})
    pace.bind(1, lambda _camera_id: 0)

    # When three frames are taken, each judged before the next
    stamps = []
    for seq in (1, 2, 3):
        take(pace, "gate")
        stamps.append(pace.captured_at("gate"))
        pace.judged("gate", seq)

    # Then they are a frame interval apart on the clip's clock, the newest not after the wall clock
    assert [round(stamp - stamps[0], 6) for stamp in stamps] == [0.0, 0.1, 0.2]
    assert stamps[-1] <= time.time()


def test_stopping_ends_every_wait() -> None:
    # Given a camera waiting for a judgement that will never come
    pace = PipelinePace({"gate": FAST_FPS})
    pace.bind(1, lambda _camera_id: 0)
    take(pace, "gate")
    taken = take_in_thread(pace, "gate")

    # When the run stops
    pace.stop()

    # Then the reader is let go
    assert taken.wait(DEADLINE_S)
