"""Tracks lost near a counting line, for the new tracks that re-acquire their objects.

The tracker ends a track missing for longer than ``max_lost_s`` and never gives its id out again; if
its object comes back, it comes back under a new track. A new track's ``Track.origin`` (the tracker's
trace back through weak detections) tells where it came from only when the detector saw the object,
however weakly, while it was lost. When it saw nothing at all (the object walked behind a pillar on
the line, or the detector missed it for a second and a half at the door), the object was lost on
one side of a line and found on the other, and its crossing went uncounted.

A line-crossing rule therefore keeps where each followed track that ended was last seen (its latest
clear-side sighting, ``LostTracks``) while a new track first seen within ``REACQUIRE_WINDOW`` times
``max_lost_s`` of it may still be confirmed: a new track's origin is traced up to ``max_lost_s`` back
from the frame it started on, so that is ``max_lost_s`` longer than the window. The window runs to
the new track's first sighting, not to the frame it is confirmed on, a frame or more later: measured
to that frame, it closed early, and a person first seen again 1.9 s after they were lost (5 fps,
``max_lost_s`` 1.0) was not counted. A track confirmed on a frame takes a lost track's place when it
is unambiguous that it is that track's object:

- same label; first seen (its origin) after the lost track was last seen, within the window, and no
  farther from it than an object moving at ``REACQUIRE_SPEED`` box heights per second (the tracker's
  ``max_speed``) goes in the time between;
- exactly one lost track fits the new track, and no other track confirmed on the same frame fits that
  lost track: two people lost together and one found, or one lost and two found, count nothing;
- the lost track was last seen clear of the frame's edge: one whose box reached it walked out of
  view, not behind something on the line, and whoever comes next came in from outside the view.
  Kept, such tracks counted a crossing nobody made on the tracking benchmark's doorway-0 played with
  a perfect detector (``tests/unit/bench/test_tracking_replay.py``): someone leaving by the frame's
  left edge and someone walking in from its right edge 2.0 s later, the window's last frame.

Every lost track a new track could be is used up by it, whichever side it was found on: a person lost
and found on the near side, who then walks over the line, is counted once (by the new track), not a
second time when someone else turns up beyond. A track that had crossed before it was lost was last
seen on the far side, so finding it there again counts nothing: one crossing is never counted twice.

Only a track that has ended links: a new track confirmed while the track whose object it might be was
still kept (missing) is left alone, because there the tracker itself held them for two objects at
once. Linking those too, when the kept track ended, counted a crossing nobody made on the tracking
benchmark's loiter-2 (recorded detections, ``bench/tracking_replay.py``), and none that was missed;
linking at confirmation only changed nothing there on the 18 recorded clips.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gateway.positions import Point

REACQUIRE_WINDOW = 2.0
"""A lost track's last sighting links to a new track first seen at most this many ``max_lost_s``
later: the tracker had already forgiven ``max_lost_s`` of it."""
REACQUIRE_SPEED = 3.0
"""Box heights per second: the fastest the tracker expects an object to move (``TrackerSpec``'s
``max_speed``)."""


@dataclass(frozen=True, slots=True)
class Sighting:
    """Where a track was seen clearly on one side of the line."""

    label: str
    position: Point
    """Bottom-centre of its box."""
    side: int
    """Its side of the line (never 0)."""
    height: float
    """Its box's height, the unit of how far it can have gone."""
    at: float
    """Capture time."""

    def could_be(self, newcomer: Sighting, window_s: float) -> bool:
        """Whether ``newcomer``, a new track's first sighting, may be this lost track's object."""
        elapsed = newcomer.at - self.at
        if newcomer.label != self.label or not 0.0 < elapsed <= window_s:
            return False
        distance = math.dist(self.position, newcomer.position)
        return distance <= REACQUIRE_SPEED * elapsed * max(self.height, newcomer.height)


class LostTracks:
    """One line-crossing rule's followed tracks: their latest clear-side sighting while alive, and
    the lost ones' for the window after."""

    def __init__(self) -> None:
        self._latest: dict[int, Sighting] = {}
        self._lost: list[Sighting] = []

    def saw(self, track_id: int, sighting: Sighting) -> None:
        self._latest[track_id] = sighting

    def left_view(self, track_id: int) -> None:
        """The track was seen at the frame's edge: if it is lost from there, it walked out of view."""
        self._latest.pop(track_id, None)

    def forget_all(self) -> None:
        """Sides of another line mean nothing for this one."""
        self._latest.clear()
        self._lost.clear()

    def depart(self, alive: set[int]) -> None:
        """Tracks no longer ``alive`` were lost."""
        for track_id in [track_id for track_id in self._latest if track_id not in alive]:
            self._lost.append(self._latest.pop(track_id))

    def forget(self, earliest: float, window_s: float) -> None:
        """Forget the lost tracks that no new track first seen at ``earliest`` or later can be: those
        last seen more than ``window_s`` before it."""
        self._lost = [sighting for sighting in self._lost if earliest - sighting.at <= window_s]

    def claim(self, newcomers: dict[int, Sighting], window_s: float) -> dict[int, Sighting]:
        """For each new track (id -> its first sighting) that is unambiguously a lost track's object,
        that lost track's last sighting. Every lost track some new track could be is used up."""
        if not self._lost or not newcomers:
            return {}
        fits = {
            track_id: [lost for lost in self._lost if lost.could_be(first, window_s)]
            for track_id, first in newcomers.items()
        }
        taken = [id(lost) for found in fits.values() for lost in found]
        self._lost = [lost for lost in self._lost if id(lost) not in taken]
        return {
            track_id: found[0]
            for track_id, found in fits.items()
            if len(found) == 1 and taken.count(id(found[0])) == 1
        }
