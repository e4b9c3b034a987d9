"""A thread the kernel will not start is one line naming it and the likely cause: at start, exit 1
with no traceback; while the gateway runs, the API's own threads are there already, so /v1/status
keeps answering. Runs the real ``edge-gateway``, held to a task limit (RLIMIT_NPROC, as another user
than root, whose limit is never enforced) or to an address space it has used up (RLIMIT_AS)."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.support.child_limits import as_user_with_tasks
from tests.support.command import COMMAND_TIMEOUT_S, write_config
from tests.support.serve import Process

CAUSE = "the task or memory limit is reached (RLIMIT_NPROC / RLIMIT_AS, systemd TasksMax)"
HEAP_ROOM = 4 * 1024 * 1024
"""Address space left above what the gateway has mapped: room for its heap to grow while requests are
answered, none for a thread's stack (8 MiB, the stack limit's default)."""
TASK_LIMITED_UID = 47213
"""A user no process runs as: the task limit counts every process of the user."""


@pytest.mark.skipif(os.geteuid() != 0, reason="running as another user takes root")
# Refused in turn: the outbox's writer, the event loop's executor, the model repository's poller.
# Not many more: from about 10, the first thread of libuv's own pool is refused, and libuv aborts.
@pytest.mark.parametrize("tasks", [3, 4, 6])
def test_a_thread_refused_at_start_is_one_line_naming_it(tmp_path: Path, tasks: int) -> None:
    # Given a first start as a user allowed a few tasks, short of what serve starts
    config = write_config(tmp_path / "gateway.yaml")
    os.chown(tmp_path, TASK_LIMITED_UID, TASK_LIMITED_UID)  # where its state goes

    # When serve starts
    command = ("serve", "--config", str(config))
    run = subprocess.run(
        [*as_user_with_tasks(TASK_LIMITED_UID, tasks), sys.executable, "-m", "gateway", *command],
        cwd=tmp_path,
        # One BLAS thread: the limit is then first met by a thread of the gateway's on any machine.
        env={**os.environ, "HOME": str(tmp_path), "OPENBLAS_NUM_THREADS": "1"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )

    # Then it fails in one line that names the thread and the likely cause
    output = run.stdout + run.stderr
    assert run.returncode == 1, output
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if " ERROR " in line]
    assert len(errors) == 1, output
    assert "gateway.commands.serve: cannot start: cannot start a thread (" in errors[0]
    assert errors[0].endswith(f"): {CAUSE}")


def test_status_answers_while_no_thread_can_be_started(tmp_path: Path, processes: list[Process]) -> None:
    # Given a running gateway whose address space is then held to a little more than it uses: no
    # thread's stack fits
    config = write_config(tmp_path / "gateway.yaml")
    gateway = Process(["serve", "--config", str(config)], tmp_path / "gateway.log")
    processes.append(gateway)
    port = gateway.api_port()
    held = address_space_of(gateway.pid) + HEAP_ROOM
    resource.prlimit(gateway.pid, resource.RLIMIT_AS, (held, resource.RLIM_INFINITY))

    # When /v1/status is asked, again and again, and then the gateway is stopped
    try:
        answers = [status_of(port) for _ in range(3)]
        code = gateway.terminate()
    finally:
        if gateway.process.poll() is None:
            resource.prlimit(gateway.pid, resource.RLIMIT_AS, (resource.RLIM_INFINITY,) * 2)

    # Then it answers each time, on the API's threads started at start-up, and stops as it should
    output = gateway.output()
    assert answers == [200, 200, 200], output
    assert code == 0, output
    assert "Traceback" not in output


def address_space_of(pid: int) -> int:
    """Bytes of address space the process ``pid`` has mapped now."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        line = next(line for line in status if line.startswith("VmSize:"))
    return int(line.split()[1]) * 1024


def status_of(port: int) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/status")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            json.load(answer)
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return error.code
