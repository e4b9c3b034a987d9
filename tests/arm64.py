"""pytest plugin of ``make test-arm64`` (``-p tests.arm64``): the unit tests that cannot pass under
aarch64 user-mode emulation, each with its reason. They are not skipped: they run, held to that reason.

qemu-user emulates one aarch64 process. Without binfmt_misc handlers (``make test-arm64`` never
registers any) the host kernel cannot start another aarch64 program, so a test that runs
``sys.executable`` fails at exec with ENOEXEC.

- ``EXEC`` entries run as strict xfails that must fail with ENOEXEC: one that passes, or fails in
  any other way, fails the run.
- ``TIMING`` entries assert wall-clock headroom that the emulated CPU (Python about 4x slower than on
  the host, every emulated thread contending for the host's cores) does not have, and emulation says
  nothing about an ARM CPU's speed. They run as xfails on AssertionError only, so an error of any
  other kind still fails the run; whether each passed is printed.
- An entry that matches no test in its file, or whose file is gone, fails the run before any test.

The list is printed before the tests run and again, with each outcome, after them.
``tests/unit/test_arm64_list.py`` checks on every machine that each entry still names a test.
"""

from __future__ import annotations

import enum
import errno
import platform
from collections import Counter
from collections.abc import Generator
from dataclasses import dataclass

import pytest


class Kind(enum.Enum):
    EXEC = "exec"
    TIMING = "timing"


@dataclass(frozen=True, slots=True)
class Unrunnable:
    test: str
    """A node id without parameters (``path::function``): every parametrization of the test."""
    kind: Kind
    reason: str

    @property
    def path(self) -> str:
        return self.test.split("::", 1)[0]

    @property
    def function(self) -> str:
        return self.test.rsplit("::", 1)[-1]

    def matches(self, node_id: str) -> bool:
        return node_id == self.test or node_id.startswith(f"{self.test}[")


UNRUNNABLE: tuple[Unrunnable, ...] = (
    Unrunnable(
        "tests/unit/test_dependencies.py::test_runtime_dependencies_resolve_as_binary_wheels",
        Kind.EXEC,
        "runs `python -m pip install --dry-run` as a subprocess: an aarch64 program the host cannot exec",
    ),
    Unrunnable(
        "tests/unit/test_dependencies.py::test_uvloop_extra_resolves_as_binary_wheels_for_jetpack_python",
        Kind.EXEC,
        "runs `python -m pip install --dry-run` as a subprocess: an aarch64 program the host cannot exec",
    ),
    Unrunnable(
        "tests/unit/test_heap.py::test_freed_block_stays_in_the_heap_until_the_periodic_trim",
        Kind.EXEC,
        "runs a Python child (the thresholds are process-wide): an aarch64 program the host cannot exec",
    ),
    Unrunnable(
        "tests/unit/test_config_motion_mask.py::test_opencv_is_loaded_only_to_check_a_mask",
        Kind.EXEC,
        "reads configs in a fresh Python child (this one has loaded OpenCV): an aarch64 program the "
        "host cannot exec",
    ),
    *(
        Unrunnable(
            f"tests/unit/bench/test_transport_floor.py::{test}",
            Kind.EXEC,
            "starts the transport floor as a Python child: an aarch64 program the host cannot exec",
        )
        for test in (
            "test_every_request_on_one_connection_gets_the_answer_after_its_whole_body",
            "test_a_body_in_pieces_is_read_to_its_end_before_the_answer",
            "test_it_serves_the_next_connection_once_one_closes",
        )
    ),
    Unrunnable(
        "tests/unit/ingest/test_cameras.py::"
        "test_cameras_with_one_rate_are_spread_so_a_small_cap_turns_nothing_away_below_capacity",
        Kind.TIMING,
        "8 scripted readers at 200 frames/s and a 5 ms detector must leave 12.5 ms sampling turns "
        "free; emulated, a frame holds its slot longer and busy drops pass the 5% budget (4 to 19 of "
        "60 seen)",
    ),
)


def listed(node_id: str) -> Unrunnable | None:
    return next((entry for entry in UNRUNNABLE if entry.matches(node_id)), None)


def _exec_format_error(error: BaseException | None) -> bool:
    while error is not None:
        if isinstance(error, OSError) and error.errno == errno.ENOEXEC:
            return True
        error = error.__cause__ or error.__context__
    return False


def pytest_configure(config: pytest.Config) -> None:
    if platform.machine() != "aarch64":
        raise pytest.UsageError(
            "-p tests.arm64 holds tests to how they fail under aarch64 emulation; "
            f"this is {platform.machine()} (run make test-arm64)"
        )


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [
        f"listed as not runnable under aarch64 emulation ({len(UNRUNNABLE)}; run, held to the reason):",
        *(f"  {entry.kind.value}: {entry.test}: {entry.reason}" for entry in UNRUNNABLE),
    ]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Runs before -k/-m deselect anything, so an entry is judged against every collected test."""
    collected_files = {item.nodeid.split("::", 1)[0] for item in items}
    stale = [
        entry.test
        for entry in UNRUNNABLE
        if not (config.rootpath / entry.path).is_file()
        or (entry.path in collected_files and not any(entry.matches(item.nodeid) for item in items))
    ]
    if stale:
        raise pytest.UsageError(f"tests/arm64.py lists tests that do not exist: {', '.join(stale)}")
    for item in items:
        entry = listed(item.nodeid)
        if entry is not None and entry.kind is Kind.EXEC:
            item.add_marker(pytest.mark.xfail(raises=OSError, strict=True, reason=entry.reason))
        elif entry is not None:
            item.add_marker(pytest.mark.xfail(raises=AssertionError, strict=False, reason=entry.reason))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Outermost, so it sees the xfail verdict: an EXEC entry's failure must be ENOEXEC itself."""
    report = yield
    entry = listed(item.nodeid)
    expected_failure = hasattr(report, "wasxfail") and report.skipped
    if (
        entry is not None
        and entry.kind is Kind.EXEC
        and expected_failure
        and call.excinfo is not None
        and not _exec_format_error(call.excinfo.value)
    ):
        del report.wasxfail
        report.outcome = "failed"
        report.longrepr = (
            f"listed in tests/arm64.py as failing at exec ({entry.reason}), but failed with "
            f"{call.excinfo.exconly()}"
        )
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    terminalreporter.section("listed as not runnable under aarch64 emulation")
    for entry in UNRUNNABLE:
        # Deselected items (-k, -m, another --shard's share) are listed as Items, not reports.
        outcomes = Counter(
            category
            for category, reports in terminalreporter.stats.items()
            if category in {"passed", "failed", "error", "xfailed", "xpassed", "deselected"}
            for report in reports
            if isinstance(report, (pytest.TestReport, pytest.Item)) and entry.matches(report.nodeid)
        )
        summary = (
            ", ".join(f"{count} {category}" for category, count in sorted(outcomes.items())) or "not run"
        )
        terminalreporter.write_line(f"{entry.kind.value}: {entry.test}: {summary}")
        terminalreporter.write_line(f"    {entry.reason}")
