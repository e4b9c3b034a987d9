"""pytest plugin ``-p tests.shard``: ``--shard K/N`` runs the K-th of N shares of the collected tests,
so that N pytest processes started side by side run one suite between them.

``make test-arm64`` runs the unit suite as two shares on the host's two cores: under qemu-user
emulation one process runs on one core, and pytest-xdist cannot start its workers there (the host
kernel cannot exec an aarch64 program; ``tests/arm64.py``). Tests are dealt out one by one in
collection order, so each file's tests, and their costs, are shared about evenly.
"""

from __future__ import annotations

import re

import pytest

_SHARD = re.compile(r"(?P<index>[0-9]+)/(?P<count>[0-9]+)")


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` as (K, N), 1 <= K <= N."""
    matched = _SHARD.fullmatch(text.strip())
    if matched is None:
        raise ValueError(f"--shard {text!r}: expected K/N, for example 1/2")
    index, count = int(matched["index"]), int(matched["count"])
    if not 1 <= index <= count:
        raise ValueError(f"--shard {text!r}: K must be from 1 to N")
    return index, count


def in_shard(position: int, index: int, count: int) -> bool:
    """Whether the test at ``position`` (0-based, in collection order) is in share ``index`` of ``count``."""
    return position % count == index - 1


_SHARE = pytest.StashKey[tuple[int, int]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--shard", default=None, help="K/N: run the K-th of N shares of the collected tests")


def pytest_configure(config: pytest.Config) -> None:
    text = config.getoption("--shard")
    if text is None:
        return
    try:
        config.stash[_SHARE] = parse_shard(text)
    except ValueError as error:
        raise pytest.UsageError(str(error)) from None


def pytest_report_header(config: pytest.Config) -> str | None:
    if _SHARE not in config.stash:
        return None
    index, count = config.stash[_SHARE]
    return f"shard {index} of {count}: one collected test in {count}, from test {index}"


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Last, so the shares are dealt from what -m and -k left: each share gets its part of the run."""
    if _SHARE not in config.stash:
        return
    index, count = config.stash[_SHARE]
    kept = [item for position, item in enumerate(items) if in_shard(position, index, count)]
    dropped = [item for position, item in enumerate(items) if not in_shard(position, index, count)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    items[:] = kept
