"""Run the gateway's native stack under the unit's ``MemoryDenyWriteExecute=yes`` and, when
given, its ``SystemCallFilter=`` lines, enforced by the kernel the way systemd enforces them.

``prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN)`` (Linux 6.3+) refuses, for the rest of the
process, any mapping that is writable and executable and any mapping that becomes executable:
the same thing systemd's seccomp filter refuses. A library that generates code at run time then
fails, so getting to the end proves the stack does not need W+X. ``--system-call-filter`` takes
the unit's lines in order and installs the same seccomp allow-list (groups expanded by
``systemd-analyze syscall-filter``, everything else failing with EPERM, as with
``SystemCallErrorNumber=EPERM``). Exit codes: 0 ran everything, 1 something failed, 3 the rules
could not be switched on (or did not refuse what they must).

    python mdwe_probe.py [--provider CUDAExecutionProvider]   # the gateway's Python stack
    python mdwe_probe.py --system-call-filter @system-service --system-call-filter "~@privileged"
    /usr/bin/python3 mdwe_probe.py --gstreamer                 # GStreamer decode, via PyGObject
"""

# The imports of the stack under test happen inside functions on purpose: loading the shared
# libraries after the rule is on is part of what is checked.
# ruff: noqa: PLC0415
from __future__ import annotations

import argparse
import ctypes
import errno
import mmap
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

PR_SET_MDWE = 65
PR_GET_MDWE = 66
PR_MDWE_REFUSE_EXEC_GAIN = 1
EXIT_NO_MDWE = 3


def enable_mdwe() -> bool:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
        print(f"mdwe-probe: PR_SET_MDWE failed: {errno.errorcode.get(ctypes.get_errno())}", file=sys.stderr)
        return False
    if libc.prctl(PR_GET_MDWE, 0, 0, 0, 0) != PR_MDWE_REFUSE_EXEC_GAIN:
        return False
    # The rule must bite, or reaching the end would prove nothing.
    try:
        mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    except PermissionError:
        return True
    print("mdwe-probe: a writable+executable mapping was allowed", file=sys.stderr)
    return False


SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_ACT_ERRNO = 0x00050000
PR_SET_NO_NEW_PRIVS = 38
# systemd.exec(5): allowed whatever the filter says.
IMPLICITLY_ALLOWED = frozenset(
    {
        "execve",
        "exit",
        "exit_group",
        "getrlimit",
        "rt_sigreturn",
        "sigreturn",
        "clock_gettime",
        "clock_getres",
        "gettimeofday",
        "time",
        "nanosleep",
        "clock_nanosleep",
    }
)


def expand_syscall_group(name: str) -> set[str]:
    if not name.startswith("@"):
        return {name}
    listing = subprocess.run(
        ["systemd-analyze", "syscall-filter", name], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    names: set[str] = set()
    for line in listing.splitlines()[1:]:
        word = line.strip().split(" ")[0] if line.strip() else ""
        if word and not word.startswith("#"):
            names |= expand_syscall_group(word)
    return names


def allowed_syscalls(lines: list[str]) -> set[str]:
    """The allow-list systemd builds from SystemCallFilter= lines, the first being an allow-list."""
    if not lines or lines[0].startswith("~"):
        raise ValueError("the first SystemCallFilter= line must be an allow-list")
    allowed = set(IMPLICITLY_ALLOWED)
    for line in lines:
        deny = line.startswith("~")
        for item in line.removeprefix("~").split():
            names = expand_syscall_group(item)
            allowed = allowed - names if deny else allowed | names
    return allowed


def apply_system_call_filter(lines: list[str]) -> bool:
    allowed = allowed_syscalls(lines)
    seccomp = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    seccomp.seccomp_init.restype = ctypes.c_void_p
    seccomp.seccomp_init.argtypes = [ctypes.c_uint32]
    seccomp.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    seccomp.seccomp_rule_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint]
    seccomp.seccomp_load.argtypes = [ctypes.c_void_p]
    context = seccomp.seccomp_init(SCMP_ACT_ERRNO | errno.EPERM)
    for name in sorted(allowed):
        number = seccomp.seccomp_syscall_resolve_name(name.encode("ascii"))
        if number >= 0 and seccomp.seccomp_rule_add(context, SCMP_ACT_ALLOW, number, 0) != 0:
            print(f"mdwe-probe: cannot allow {name}", file=sys.stderr)
            return False
    libc = ctypes.CDLL(None, use_errno=True)
    niceness = os.getpriority(os.PRIO_PROCESS, 0)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or seccomp.seccomp_load(context) != 0:
        print("mdwe-probe: cannot load the seccomp filter", file=sys.stderr)
        return False
    if "setpriority" in allowed:
        return True
    # The filter must bite, or reaching the end would prove nothing: keeping one's own niceness is
    # always permitted, except by a filter without @resources.
    try:
        os.setpriority(os.PRIO_PROCESS, 0, niceness)
    except PermissionError:
        return True
    print("mdwe-probe: the seccomp filter let setpriority through", file=sys.stderr)
    return False


def run_stack(provider: str) -> None:
    import asyncio
    import sqlite3

    import aiohttp
    import cv2
    import numpy as np
    import onnxruntime
    import paho.mqtt.client
    from aiohttp import web
    from onnx import TensorProto, helper
    from paho.mqtt.enums import CallbackAPIVersion
    from prometheus_client import CollectorRegistry, Counter, generate_latest

    from gateway.config import parse_config
    from gateway.inference.thread_priority import batch_scheduling, lower_priority

    # A convolutional network, so ONNX Runtime's MLAS picks its vectorised kernels.
    weights = np.random.default_rng(0).random((8, 3, 3, 3), dtype=np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["images", "weights"], ["features"], pads=[1, 1, 1, 1]),
            helper.make_node("Relu", ["features"], ["activated"]),
            helper.make_node("GlobalAveragePool", ["activated"], ["pooled"]),
        ],
        "probe",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, 64, 64])],
        [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, None)],
        [helper.make_tensor("weights", TensorProto.FLOAT, weights.shape, weights.flatten().tolist())],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    # intra_op_num_threads 0 lets ONNX Runtime size its pool and pin each thread with
    # sched_setaffinity (which the unit allows for that reason; denied, ORT logs an error per thread).
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 0
    session = onnxruntime.InferenceSession(model.SerializeToString(), options, providers=[provider])
    if session.get_providers()[0] != provider:
        raise RuntimeError(f"{provider} is not available: {session.get_providers()}")
    pooled = session.run(None, {"images": np.ones((4, 3, 64, 64), dtype=np.float32)})[0]
    assert pooled.shape == (4, 8, 1, 1)

    frame = np.zeros((480, 640, 3), dtype=np.uint8)
    cv2.rectangle(frame, (100, 100), (300, 300), (0, 255, 0), -1)
    encoded, jpeg = cv2.imencode(".jpg", cv2.resize(frame, (320, 240)))
    assert encoded
    decoded = cv2.imdecode(jpeg, cv2.IMREAD_COLOR)
    assert decoded is not None
    assert decoded.shape == (240, 320, 3)
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    assert cv2.countNonZero(cv2.absdiff(grey, np.zeros_like(grey))) > 0

    with tempfile.TemporaryDirectory() as directory:
        database = sqlite3.connect(Path(directory) / "outbox.db")
        database.execute("PRAGMA journal_mode=WAL")
        database.execute("CREATE TABLE alerts (seq INTEGER PRIMARY KEY, body BLOB)")
        database.execute("INSERT INTO alerts (body) VALUES (?)", (b"{}",))
        database.commit()
        database.close()

    parse_config("device_id: probe\ncameras: [{id: gate, url: /dev/null}]\n")
    # The inference workers move themselves to SCHED_BATCH and lower their priority (the unit
    # allows sched_setscheduler and setpriority).
    worker = threading.Thread(target=threading.Event().wait, args=(5,), daemon=True)
    worker.start()
    if not batch_scheduling(worker):
        raise PermissionError("sched_setscheduler(SCHED_BATCH) was refused")
    if not lower_priority(worker, 10):
        raise PermissionError("setpriority on an inference worker was refused")
    paho.mqtt.client.Client(CallbackAPIVersion.VERSION2, client_id="probe")
    registry = CollectorRegistry()
    Counter("edge_gateway_probe_total", "probe", registry=registry).inc()
    assert b"edge_gateway_probe_total 1.0" in generate_latest(registry)

    async def serve_once() -> str:
        async def hello(request: web.Request) -> web.Response:
            return web.json_response({"ok": True})

        app = web.Application()
        app.router.add_get("/", hello)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            async with aiohttp.ClientSession() as client, client.get(f"http://127.0.0.1:{port}/") as reply:
                return await reply.text()
        finally:
            await runner.cleanup()

    assert asyncio.run(serve_once()) == '{"ok": true}'


def run_gstreamer() -> None:
    import gi

    gi.require_version("Gst", "1.0")
    from gi.repository import Gst

    Gst.init(None)
    # Colour conversion and scaling use ORC-generated code; x264/avdec use hand-written SIMD.
    pipeline = Gst.parse_launch(
        "videotestsrc num-buffers=30 ! video/x-raw,format=I420,width=320,height=240 ! videoconvert"
        " ! video/x-raw,format=BGR ! videoscale ! video/x-raw,width=160,height=120 ! videoconvert"
        " ! x264enc ! avdec_h264 ! videoconvert ! fakesink"
    )
    pipeline.set_state(Gst.State.PLAYING)
    message = pipeline.get_bus().timed_pop_filtered(
        30 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR
    )
    pipeline.set_state(Gst.State.NULL)
    if message is None or message.type != Gst.MessageType.EOS:
        detail = message.parse_error() if message is not None else "timeout"
        raise RuntimeError(f"GStreamer pipeline did not reach EOS: {detail}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--provider", default="CPUExecutionProvider")
    parser.add_argument("--gstreamer", action="store_true")
    parser.add_argument("--system-call-filter", action="append", default=[], metavar="LINE")
    arguments = parser.parse_args()
    if arguments.system_call_filter and not apply_system_call_filter(arguments.system_call_filter):
        return EXIT_NO_MDWE
    if not enable_mdwe():
        return EXIT_NO_MDWE
    if arguments.gstreamer:
        run_gstreamer()
    else:
        run_stack(arguments.provider)
    print("mdwe-probe: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
