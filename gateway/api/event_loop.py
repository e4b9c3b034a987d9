"""The event loop the API runs on: uvloop when it is installed, asyncio's own loop otherwise.

The event loop shares the cores with the inference workers, so its CPU per request is taken from
inference. uvloop (libuv, in C) does the loop's own work (polling, callbacks, socket reads and
writes, the transports) in C: bench/request_cpu.py measures the event-loop thread's CPU per /v2
request against asyncio's loop, on the same checkout, alternating (figures in the README's
Benchmarks). It is optional: ``pip install edge-gateway[uvloop]`` (binary wheels for CPython 3.10+
on x86_64 and aarch64); without it the gateway runs unchanged on asyncio's loop and says so in its
log once at start. Only ``edge-gateway serve`` (and the benchmarks that stand in for it) run here.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")

__all__ = ["loop_name", "run"]


def _uvloop_runner() -> Callable[[Coroutine[Any, Any, Any]], Any] | None:
    # Looked up when the loop starts, not at import: importing this module does nothing.
    try:
        module = importlib.import_module("uvloop")
    except ImportError:
        return None
    runner: Callable[[Coroutine[Any, Any, Any]], Any] = module.run
    return runner


def loop_name() -> str:
    """``uvloop`` when ``run`` will use it, else ``asyncio``."""
    return "asyncio" if _uvloop_runner() is None else "uvloop"


def run(main: Coroutine[Any, Any, T], *, prefer_uvloop: bool = True) -> T:
    """``asyncio.run(main)``, on uvloop when it is installed (and ``prefer_uvloop``)."""
    runner = _uvloop_runner() if prefer_uvloop else None
    if runner is None:
        if prefer_uvloop:
            logger.info("event loop: asyncio (uvloop is not installed; pip install edge-gateway[uvloop])")
        return asyncio.run(main)
    logger.info("event loop: uvloop")
    result: T = runner(main)
    return result
