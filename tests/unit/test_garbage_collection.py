"""gateway.garbage_collection: what a settle freezes is skipped by full passes until the next settle,
which collects it if it has become garbage; what is built after a settle is collected as usual."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from gateway.garbage_collection import settle


class Node:
    def __init__(self) -> None:
        self.itself = self  # a reference cycle: only the cyclic collector frees it


@pytest.fixture(autouse=True)
def unfrozen_afterwards() -> Iterator[None]:
    yield
    gc.unfreeze()


def test_a_cycle_frozen_by_a_settle_is_collected_by_the_next_settle() -> None:
    node = Node()
    gone = weakref.ref(node)
    settle()
    assert gc.get_freeze_count() > 0
    del node
    gc.collect()
    assert gone() is not None, "a full pass skips what is frozen"
    settle()
    assert gone() is None


def test_a_cycle_built_after_a_settle_is_collected_by_a_full_pass() -> None:
    settle()
    node = Node()
    gone = weakref.ref(node)
    del node
    gc.collect()
    assert gone() is None


def test_garbage_before_a_settle_is_collected_not_frozen() -> None:
    node = Node()
    gone = weakref.ref(node)
    del node
    settle()
    assert gone() is None
