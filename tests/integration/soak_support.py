"""Helpers for the soak test (``test_soak.py``): what a process holds, read from ``/proc``, and the
bounded HTTP floods the gateway is put through.

The process is measured from outside, the way an operator would see a leak: ``Threads:`` and
``VmRSS:`` from ``/proc/PID/status`` and the entries of ``/proc/PID/fd``. When a check fails, the
fd targets by kind (``socket``, ``pipe``, ``anon_inode:[eventfd]``, file paths) and the Python
thread names from ``/debug/threads`` say what grew.
"""

from __future__ import annotations

import asyncio
import io
import os
import random
import shutil
import socket
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import cv2
import numpy as np

from gateway.api.tensors import encode_binary_request
from tests.integration.systemd.notify_listener import Notification, NotifyListener

MIB = 1024 * 1024


# ---- what the process holds -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sample:
    """One reading of the gateway process."""

    label: str
    threads: int
    fds: int
    rss_bytes: int
    settled: bool = True

    def row(self) -> str:
        flag = "" if self.settled else "  (did not settle)"
        return f"{self.label:>12}  {self.threads:>7}  {self.fds:>4}  {self.rss_bytes / MIB:>8.1f}{flag}"


def read_sample(pid: int, label: str, *, settled: bool = True) -> Sample:
    fields: dict[str, str] = {}
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    rss_kib = int(fields["VmRSS"].split()[0])
    return Sample(label, int(fields["Threads"]), len(os.listdir(f"/proc/{pid}/fd")), rss_kib * 1024, settled)


def series_table(samples: list[Sample]) -> str:
    header = f"{'when':>12}  {'threads':>7}  {'fds':>4}  {'rss MiB':>8}"
    return "\n".join([header, *(sample.row() for sample in samples)])


def fd_kinds(pid: int) -> Counter[str]:
    """Open descriptors by what they point at: ``socket``, ``pipe``, anon inodes, or the file path."""
    kinds: Counter[str] = Counter()
    directory = f"/proc/{pid}/fd"
    for entry in os.listdir(directory):
        try:
            target = os.readlink(f"{directory}/{entry}")
        except OSError:  # closed between the listing and the readlink
            continue
        kind = target.split(":[", 1)[0] if target.startswith(("socket:", "pipe:")) else target
        kinds[kind] += 1
    return kinds


def counter_growth(before: Counter[str], after: Counter[str]) -> dict[str, int]:
    return {
        key: after[key] - before[key] for key in sorted(set(before) | set(after)) if after[key] != before[key]
    }


# ---- the demo clip as an RTSP mount -----------------------------------------------------------


def write_raw_clip(clip: Path, destination: Path, first_frame: int = 0) -> str:
    """Decode ``clip`` into raw I420 frames, starting at ``first_frame`` and wrapping around, one frame
    at a time; return the RTSP server's mount spec. The server restarts the clip for every client, so
    a test that reconnects often sees the frames from ``first_frame`` on again and again."""
    capture = cv2.VideoCapture(str(clip))
    try:
        fps = round(capture.get(cv2.CAP_PROP_FPS))
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        head = destination.with_suffix(".head")
        with destination.open("wb") as tail_part, head.open("wb") as head_part:
            index = 0
            while True:
                ok, frame = capture.read()
                if not ok:
                    break
                output = head_part if index < first_frame else tail_part
                output.write(cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
                index += 1
    finally:
        capture.release()
    with destination.open("ab") as output, head.open("rb") as head_part:
        shutil.copyfileobj(head_part, output)
    head.unlink()
    assert destination.stat().st_size > 0, f"no frames decoded from {clip}"
    return f"raw:{destination}:{width}x{height}:{fps}"


def demo_jpeg(clip: Path, frame_index: int) -> bytes:
    capture = cv2.VideoCapture(str(clip))
    try:
        capture.set(cv2.CAP_PROP_POS_FRAMES, frame_index)
        ok, image = capture.read()
    finally:
        capture.release()
    assert ok, f"cannot read frame {frame_index} of {clip}"
    encoded, jpeg = cv2.imencode(".jpg", image)
    assert encoded
    return jpeg.tobytes()


# ---- one bounded flood ------------------------------------------------------------------------


def binary_infer_body(rows: int, height: int, width: int) -> tuple[bytes, dict[str, str]]:
    """A KServe v2 request with the binary tensor extension, as tritonclient sends it."""
    tensor = np.random.default_rng(rows).random((rows, 3, height, width), dtype=np.float32)
    return encode_binary_request({"images": tensor})


@dataclass(frozen=True, slots=True)
class Request:
    """One kind of request in a flood: how many of it, and which statuses are a correct answer."""

    kind: str
    method: str
    path: str
    count: int
    allowed: frozenset[int]
    body: bytes | None = None
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class FloodPlan:
    port: int
    token: str
    requests: tuple[Request, ...]
    concurrency: int
    aborted_uploads: int
    """Clients that announce a big body, send part of it and hang up."""
    burst_token: str
    burst_requests: int
    """Cheap requests sent all at once under their own token: more than its bucket holds, so some
    are answered 429 however fast or slow the rest of the flood runs."""


async def _flood(plan: FloodPlan) -> Counter[tuple[str, int]]:
    outcomes: Counter[tuple[str, int]] = Counter()
    base = f"http://127.0.0.1:{plan.port}"
    authorization = {"Authorization": f"Bearer {plan.token}"}
    jobs: list[Request] = [request for request in plan.requests for _ in range(request.count)]
    # Interleaved, so cheap and expensive requests compete for the same token bucket and queue.
    random.Random(len(jobs)).shuffle(jobs)
    pending: asyncio.Queue[Request] = asyncio.Queue()
    for job in jobs:
        pending.put_nowait(job)
    timeout = aiohttp.ClientTimeout(total=60)
    connector = aiohttp.TCPConnector(limit=plan.concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def client() -> None:
            while not pending.empty():
                job = pending.get_nowait()
                headers = dict(job.headers)
                if job.kind != "unauthorized":
                    headers.update(authorization)
                async with session.request(
                    job.method, base + job.path, data=_payload(job.body), headers=headers
                ) as reply:
                    await reply.read()
                    outcomes[(job.kind, reply.status)] += 1

        async def hang_up() -> None:
            await asyncio.get_running_loop().run_in_executor(None, _aborted_upload, plan.port, plan.token)
            outcomes[("aborted-upload", 0)] += 1

        async def burst() -> None:
            headers = {"Authorization": f"Bearer {plan.burst_token}"}
            async with session.get(base + "/v2", headers=headers) as reply:
                await reply.read()
                outcomes[("burst", reply.status)] += 1

        tasks: list[Awaitable[None]] = [client() for _ in range(plan.concurrency)]
        tasks += [burst() for _ in range(plan.burst_requests)]
        tasks += [hang_up() for _ in range(plan.aborted_uploads)]
        await asyncio.gather(*tasks)
    return outcomes


def _payload(body: bytes | None) -> io.BytesIO | None:
    # aiohttp warns (an error under filterwarnings=error) about sending a large bytes body in one go.
    return io.BytesIO(body) if body is not None else None


def _aborted_upload(port: int, token: str) -> None:
    announced = 4 * MIB
    head = (
        f"POST /v2/models/face-detector/infer HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\nInference-Header-Content-Length: 64\r\n"
        f"Content-Length: {announced}\r\n\r\n"
    ).encode()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
            connection.sendall(head + b"\0" * (announced // 4))
    except OSError:
        pass  # the gateway may answer (429/503) and hang up first: the same abandoned request


class FloodThread:
    """Runs one flood on its own thread (its own event loop) while the test signals the gateway."""

    def __init__(self, plan: FloodPlan) -> None:
        self.outcomes: Counter[tuple[str, int]] = Counter()
        self.error: BaseException | None = None
        self._plan = plan
        self._thread = threading.Thread(target=self._run, name="soak-flood", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.outcomes = asyncio.run(_flood(self._plan))
        except BaseException as exc:  # handed to the test thread by join()
            self.error = exc

    def join(self, timeout_s: float) -> Counter[tuple[str, int]]:
        self._thread.join(timeout_s)
        assert not self._thread.is_alive(), f"the flood did not finish within {timeout_s} s"
        if self.error is not None:
            raise AssertionError(f"flood client failed: {self.error!r}") from self.error
        return self.outcomes


def unexpected_statuses(
    outcomes: Counter[tuple[str, int]], requests: tuple[Request, ...]
) -> dict[tuple[str, int], int]:
    allowed = {request.kind: request.allowed for request in requests}
    return {
        (kind, status): count
        for (kind, status), count in outcomes.items()
        if kind in allowed and status not in allowed[kind]
    }


def wait_until(condition: Callable[[], bool], timeout_s: float, interval_s: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval_s)
    return condition()


class NotifyRecorder:
    """Drains an sd_notify listener on a thread (so the gateway never waits on a full socket buffer)
    and keeps every notification for the test to count."""

    def __init__(self, listener: NotifyListener) -> None:
        self._listener = listener
        self._lock = threading.Lock()
        self._received: list[Notification] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-notify", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            notification = self._listener.receive(0.2)
            if notification is not None:
                with self._lock:
                    self._received.append(notification)

    def count(self, key: str) -> int:
        with self._lock:
            return sum(1 for notification in self._received if key in notification.fields)

    def wait_count(self, key: str, at_least: int, timeout_s: float) -> bool:
        return wait_until(lambda: self.count(key) >= at_least, timeout_s, 0.1)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
