"""Keep the objects built at start out of the cyclic garbage collector's full passes.

A full pass (generation 2) walks every tracked object with the GIL held, so while it runs no thread
of the process runs Python: the event loop answers nothing, a worker hands back no batch. A gateway
that has loaded its models, cameras and API holds some 69,000 such objects, nearly all of them for
its whole life; a full pass over them took 57 ms (the serving benchmark's server, at start, 2
cores). Python runs one when the objects that survived into the oldest generation have grown by a
quarter since the last: none came in the benchmark's two minutes of serving (gc callbacks), but what
a long run keeps (events, tracks, metrics' children) brings them, each a stall that long. Frozen
(``gc.freeze``), the objects built at start are skipped: a full pass then took under 0.1 ms.

A frozen object is still freed when its last reference goes; only one caught in a reference cycle
waits for the next ``settle`` (a reload), so what can be held back is bounded by what existed at the
last settle, and engines let go of their native memory explicitly when they close.
"""

from __future__ import annotations

import gc


def settle() -> None:
    """Collect what is garbage now, then freeze everything left: at start and after each reload,
    whose replaced rules, cameras and configs are collected here rather than held frozen."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
