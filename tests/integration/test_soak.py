"""The leak guard: the real ``edge-gateway serve`` through rounds of reloads, camera failures, broker
restarts and HTTP floods, after which its threads, file descriptors and RSS must be back at the
baseline taken after a warm-up round.

Every part is real: the loopback RTSP server streams the demo clip and a test pattern (and 404s a
third camera, which retries for the whole test), mosquitto takes the alerts, the face detector runs
on ONNX Runtime, and the gateway runs under an sd_notify listener as systemd would run it. Each
round, while a bounded flood of HTTP clients hits ``/v2`` binary infer, ``/v1/detect``,
``/v1/cameras``, snapshots, ``/v1/events``, ``/metrics`` and ``/debug/threads`` (with 401s, 429s,
503s, 504s, 400s and uploads abandoned halfway):

- the config is rewritten with a changed rule and the model file touched, then SIGHUP: rules are
  replaced and the model version is loaded side by side and swapped (old sessions retired);
- the RTSP server drops every client (SIGUSR1), then hangs (SIGSTOP past the read timeout, SIGCONT);
- mosquitto is restarted.

Then the gateway settles (cameras streaming again, MQTT reconnected, thread and fd counts steady)
and is measured from ``/proc``. ``EDGE_GATEWAY_SOAK_S`` sets how long the rounds run (default: a
couple of minutes for the whole test in CI); the per-round series is in every failure message.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.heap import TRIM_EVERY_S
from tests.integration.soak_support import (
    MIB,
    FloodPlan,
    FloodThread,
    NotifyRecorder,
    Request,
    Sample,
    binary_infer_body,
    counter_growth,
    demo_jpeg,
    fd_kinds,
    read_sample,
    series_table,
    unexpected_statuses,
    wait_until,
    write_raw_clip,
)
from tests.integration.systemd.notify_listener import NotifyListener
from tests.support.mosquitto import Mosquitto
from tests.support.rtsp_server import RtspServer

REPOSITORY = Path(__file__).resolve().parents[2]
CLIP = REPOSITORY / "build" / "demo" / "clip.mp4"
MODEL = "face-detector"
FACE_FRAME = 100  # 10 s into the 10 fps demo clip (build/demo/clip.truth.json)
SOAK_S = float(os.environ.get("EDGE_GATEWAY_SOAK_S", "110"))
MIN_ROUNDS = 3
"""Enough rounds after the baseline that one thread or fd leaked per round exceeds the tolerance."""
READY_TIMEOUT_S = 120.0  # models load and warm on a shared 2-core machine
RELOAD_TIMEOUT_S = 60.0
SETTLE_TIMEOUT_S = 30.0
STEADY_SAMPLES = 4
STOP_BUDGET_S = 10.0
READ_TIMEOUT_S = 2.0
BURST = 40
WATCHDOG_USEC = 2_000_000

# Tolerances, judged against the settled baseline taken after a warm-up round (every lazily
# created thread pool, ORT arena and aiohttp buffer exists by then):
THREAD_TOLERANCE = 2
FD_TOLERANCE = 2
"""The third camera (a 404 mount) retries its open every second for the whole test: a sample can
land inside one attempt, which holds a probe socket and FFmpeg's RTSP socket for a few ms. A leak of
one thread or fd per round, per reconnect or per reload exceeds 2 after MIN_ROUNDS rounds."""
RSS_TOLERANCE_BYTES = 96 * MIB
RSS_TOLERANCE_SHARE = 0.25
"""RSS is noisier than counts: glibc keeps freed blocks of the request bodies (1-5 MiB each) in
the arenas of the threads that handled them, until serve's periodic trim (gateway/heap.py) hands them
back. Measured on the 2-core box over 9-10 rounds: with the trim only at reloads, settled RSS climbed
about 10 MiB per round (+99 and +109 MiB after 10 rounds) while a fixed mmap threshold (GLIBC_TUNABLES=
glibc.malloc.mmap_threshold=131072, freed blocks go straight back) kept it within +8 to +27 MiB, so
that climb was retention, not leaked objects; with the periodic trim it ended at +18 and +24 MiB
(highest round +41). What the check must catch costs more: without any trim, the pages of the
sessions closed by each hot reload stayed resident, ~30 MiB per reload (+134 MiB after 3 rounds); and
each round moves ~100 MiB of request bodies that a leak would keep."""


@dataclass
class Soak:
    """Everything the rounds act on, and what they recorded."""

    tmp: Path
    process: subprocess.Popen[bytes]
    log: Path
    port: int
    control_token: str
    flood_token: str
    config_path: Path
    model_file: Path
    rtsp: RtspServer
    broker: Mosquitto
    notify: NotifyRecorder
    plan: FloodPlan
    samples: list[Sample] = field(default_factory=list)
    outcomes: Counter[tuple[str, int]] = field(default_factory=Counter)
    reloads: int = 0

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def get(self, path: str) -> tuple[int, bytes]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", headers={"Authorization": f"Bearer {self.control_token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:
                return int(reply.status), reply.read()
        except urllib.error.HTTPError as error:
            body = error.read()
            error.close()
            return int(error.code), body

    def thread_names(self) -> Counter[str]:
        status, body = self.get("/debug/threads")
        if status != 200:
            return Counter({f"/debug/threads answered {status}": 1})
        # Numbered pool threads (api-worker_0, ThreadPoolExecutor-0_3) are counted by their pool.
        return Counter(re.sub(r"\d+", "N", entry["name"]) for entry in json.loads(body)["threads"])

    def healthy_again(self) -> bool:
        """Both real cameras streaming and the broker connected: the state the baseline was taken in."""
        cameras_status, cameras_body = self.get("/v1/cameras")
        metrics_status, metrics_body = self.get("/metrics")
        if cameras_status != 200 or metrics_status != 200:
            return False
        states = {camera["id"]: camera["state"] for camera in json.loads(cameras_body)["cameras"]}
        connected = re.search(rb"^edge_gateway_mqtt_connected (\S+)$", metrics_body, re.MULTILINE)
        return (
            states.get("demo") == "streaming"
            and states.get("pattern") == "streaming"
            and connected is not None
            and float(connected.group(1)) == 1.0
        )

    def settle(self, label: str) -> Sample:
        """Wait for health, then for STEADY_SAMPLES readings with the same thread and fd counts."""
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        wait_until(self.healthy_again, SETTLE_TIMEOUT_S)
        # serve hands freed heap pages back every TRIM_EVERY_S: RSS read before a trim that follows the
        # round's load measures glibc's retention, not what the gateway holds.
        time.sleep(TRIM_EVERY_S + 0.5)
        recent: list[Sample] = []
        while time.monotonic() < deadline:
            recent = [*recent[-(STEADY_SAMPLES - 1) :], read_sample(self.pid, label)]
            if len(recent) == STEADY_SAMPLES and len({(s.threads, s.fds) for s in recent}) == 1:
                sample = recent[-1]
                break
            time.sleep(0.5)
        else:
            sample = read_sample(self.pid, label, settled=False)
        self.samples.append(sample)
        return sample


def write_config(soak_dir: Path, rtsp: RtspServer, broker: Mosquitto, tokens: Path, min_score: float) -> Path:
    camera_defaults: dict[str, Any] = {
        "detect_fps": 2,
        "open_timeout_s": 2.0,
        "read_timeout_s": READ_TIMEOUT_S,
        "reconnect_min_s": 0.2,
        "reconnect_max_s": 1.0,
    }
    face_rule = {
        "name": "face",
        "labels": ["FACE_FEMALE", "FACE_MALE"],
        "min_score": min_score,
        "min_frames": 1,
        "cooldown_s": 0,
        "update_interval_s": 0.5,
        "end_after_s": 1.0,
    }
    config = {
        "device_id": "soak",
        "state_dir": str(soak_dir / "state"),
        "http": {"host": "127.0.0.1", "port": 0, "tokens_file": str(tokens)},
        # Reloads happen on SIGHUP only, so each round reloads exactly once.
        "models": {"repository": str(soak_dir / "models"), "poll_interval_s": 3600},
        # A small queue with a low watermark, so the flood meets 503s as well as 200s.
        "inference": {"queue_capacity": 8, "max_batch_size": 4},
        "admission": {"rate_per_s": 40, "burst": BURST, "high_watermark": 0.5},
        "cameras": [
            {**camera_defaults, "id": "demo", "url": rtsp.url("demo"), "model": MODEL, "rules": [face_rule]},
            {**camera_defaults, "id": "pattern", "url": rtsp.url("pattern"), "model": MODEL},
            {**camera_defaults, "id": "ghost", "url": rtsp.url("missing"), "model": MODEL},
        ],
        "mqtt": {
            "url": broker.url,
            "topic_prefix": "edge",
            "keepalive_s": 5,
            "reconnect_min_s": 0.2,
            "reconnect_max_s": 1.0,
        },
    }
    path = soak_dir / "gateway.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def flood_plan(port: int, token: str, burst_token: str) -> FloodPlan:
    one_row, binary_headers = binary_infer_body(1, 320, 320)
    two_rows, _ = binary_infer_body(2, 320, 320)
    wrong_shape, wrong_headers = binary_infer_body(1, 32, 32)
    infer = f"/v2/models/{MODEL}/infer"
    queued = frozenset({200, 429, 503, 504})
    listing = frozenset({200, 429})
    requests = (
        Request("infer", "POST", infer, 24, queued, one_row, tuple(binary_headers.items())),
        Request("infer-2", "POST", infer, 8, queued, two_rows, tuple(binary_headers.items())),
        Request(
            "infer-1ms-deadline",
            "POST",
            infer,
            6,
            queued,
            one_row,
            (*binary_headers.items(), ("X-Request-Timeout-Ms", "1")),
        ),
        Request(
            "infer-bad-shape",
            "POST",
            infer,
            4,
            frozenset({400, 429, 503}),
            wrong_shape,
            tuple(wrong_headers.items()),
        ),
        Request(
            "detect",
            "POST",
            f"/v1/detect?model={MODEL}",
            8,
            queued,
            demo_jpeg(CLIP, FACE_FRAME + 10),
            (("Content-Type", "image/jpeg"),),
        ),
        Request("cameras", "GET", "/v1/cameras", 8, listing),
        Request("snapshot", "GET", "/v1/cameras/demo/snapshot.jpg", 4, frozenset({200, 404, 429})),
        Request("events", "GET", "/v1/events?limit=50", 4, listing),
        Request("metrics", "GET", "/metrics", 6, listing),
        Request("threads", "GET", "/debug/threads", 2, listing),
        Request("unauthorized", "GET", "/v1/cameras", 4, frozenset({401})),
        Request("ready", "GET", "/v2/health/ready", 4, frozenset({200})),
        Request("burst", "GET", "/v2", 0, listing),  # sent by the burst client, see FloodPlan
    )
    return FloodPlan(
        port,
        token,
        requests,
        concurrency=12,
        aborted_uploads=3,
        burst_token=burst_token,
        burst_requests=2 * BURST,
    )


def prepare_models(soak_dir: Path) -> Path:
    """A private copy of the face detector, so touching its file to force a reload is ours to do."""
    source = REPOSITORY / "models" / MODEL
    target = soak_dir / "models" / MODEL
    (target / "1").mkdir(parents=True)
    shutil.copy2(source / "model.yaml", target / "model.yaml")
    shutil.copy2(source / "1" / "model.onnx", target / "1" / "model.onnx")
    return target / "1" / "model.onnx"


@pytest.fixture
def soak(tmp_path: Path) -> Iterator[Soak]:
    assert CLIP.exists(), "build/setup.sh builds the demo clip"
    assert (REPOSITORY / "models" / MODEL / "1" / "model.onnx").exists(), "build/setup.sh builds the model"
    # The face shows 10 s into the clip; starting there, alerts flow after every reconnect.
    mounts = {"demo": write_raw_clip(CLIP, tmp_path / "demo.i420", FACE_FRAME), "pattern": "pattern"}
    control_token, flood_token, burst_token = (secrets.token_hex(16) for _ in range(3))
    tokens = tmp_path / "tokens"
    tokens.write_text(f"{control_token}\n{flood_token}\n{burst_token}\n", encoding="utf-8")
    model_file = prepare_models(tmp_path)
    log = tmp_path / "serve.log"
    with (
        RtspServer(mounts) as rtsp,
        Mosquitto(tmp_path / "broker") as broker,
        NotifyListener(tmp_path / "notify.sock") as listener,
    ):
        config_path = write_config(tmp_path, rtsp, broker, tokens, min_score=0.4)
        environment = {
            **os.environ,
            "NOTIFY_SOCKET": listener.environment_value,
            "WATCHDOG_USEC": str(WATCHDOG_USEC),
            "PYTHONFAULTHANDLER": "1",
        }
        notify = NotifyRecorder(listener)
        with log.open("wb") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "gateway", "serve", "--config", str(config_path)],
                cwd=tmp_path,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        try:
            ready = notify.wait_count("READY", 1, READY_TIMEOUT_S)
            text = log.read_text(encoding="utf-8", errors="replace")
            assert ready, f"no READY=1 within {READY_TIMEOUT_S} s:\n{text[-5000:]}"
            match = re.search(r"HTTP API listening on 127\.0\.0\.1:(\d+)", text)
            assert match is not None, text[-5000:]
            port = int(match.group(1))
            yield Soak(
                tmp=tmp_path,
                process=process,
                log=log,
                port=port,
                control_token=control_token,
                flood_token=flood_token,
                config_path=config_path,
                model_file=model_file,
                rtsp=rtsp,
                broker=broker,
                notify=notify,
                plan=flood_plan(port, flood_token, burst_token),
            )
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(10)
            notify.close()


def reload(soak: Soak, round_index: int) -> None:
    """A changed rule and a touched model file, then SIGHUP; returns once READY=1 follows."""
    write_config(
        soak.tmp, soak.rtsp, soak.broker, soak.tmp / "tokens", min_score=0.4 + 0.05 * (round_index % 2)
    )
    stamp = time.time_ns()
    os.utime(soak.model_file, ns=(stamp, stamp))
    readies = soak.notify.count("READY")
    soak.process.send_signal(signal.SIGHUP)
    soak.reloads += 1
    assert soak.notify.wait_count("READY", readies + 1, RELOAD_TIMEOUT_S), (
        f"no READY=1 within {RELOAD_TIMEOUT_S} s of SIGHUP {soak.reloads}\n{soak.output()[-5000:]}"
    )


def run_round(soak: Soak, round_index: int) -> None:
    flood = FloodThread(soak.plan)
    reload(soak, round_index)
    soak.rtsp.drop_clients()
    time.sleep(1.5)
    soak.rtsp.pause()
    try:
        time.sleep(READ_TIMEOUT_S + 1.5)  # past the read timeout: the readers give up and reopen
    finally:
        soak.rtsp.resume()
    soak.broker.restart()
    soak.outcomes.update(flood.join(120))
    assert soak.process.poll() is None, f"the gateway exited in round {round_index}\n{soak.output()[-5000:]}"


@pytest.mark.slow
@pytest.mark.timeout(SOAK_S + 300)
def test_threads_fds_and_rss_return_to_baseline_after_reloads_failures_and_floods(soak: Soak) -> None:
    # Given a gateway that went through one full round already (every lazy pool exists)
    run_round(soak, 0)
    baseline = soak.settle("baseline")
    baseline_fds, baseline_threads = fd_kinds(soak.pid), soak.thread_names()

    # When it goes through more rounds of the same
    rounds = 0
    ends_at = time.monotonic() + SOAK_S
    while rounds < MIN_ROUNDS or time.monotonic() < ends_at:
        rounds += 1
        run_round(soak, rounds)
        soak.settle(f"round {rounds}")
    final = soak.settle("final")
    final_fds, final_threads = fd_kinds(soak.pid), soak.thread_names()

    # Then threads, fds and RSS are back at the baseline
    rss_allowed = max(RSS_TOLERANCE_BYTES, int(baseline.rss_bytes * RSS_TOLERANCE_SHARE))
    report = (
        f"{rounds} rounds after the baseline, {soak.reloads} reloads\n{series_table(soak.samples)}\n"
        f"fd growth by kind: {counter_growth(baseline_fds, final_fds)}\n"
        f"thread growth by name: {counter_growth(baseline_threads, final_threads)}\n"
        f"HTTP outcomes: {dict(sorted(soak.outcomes.items()))}"
    )
    print(report)  # the series is worth having from a passing run too (pytest -s)
    assert final.threads <= baseline.threads + THREAD_TOLERANCE, f"threads leaked\n{report}"
    assert final.fds <= baseline.fds + FD_TOLERANCE, f"fds leaked\n{report}"
    assert final.rss_bytes <= baseline.rss_bytes + rss_allowed, (
        f"RSS grew by {(final.rss_bytes - baseline.rss_bytes) / MIB:.1f} MiB "
        f"(allowed {rss_allowed / MIB:.1f})\n{report}"
    )

    # And every request got a correct answer; the floods did reach admission control and the models
    assert not unexpected_statuses(soak.outcomes, soak.plan.requests), report
    infer_statuses = {status for (kind, status) in soak.outcomes if kind.startswith("infer")}
    assert {200, 503} <= infer_statuses, report
    assert any(status == 429 for (_, status) in soak.outcomes), report

    # And the gateway is still ready, still pinging the watchdog, and stops cleanly
    assert soak.get("/v2/health/ready")[0] == 200
    pings = soak.notify.count("WATCHDOG")
    assert soak.notify.wait_count("WATCHDOG", pings + 1, 5.0), "no watchdog ping after the soak"
    asked = time.monotonic()
    soak.process.send_signal(signal.SIGTERM)
    assert soak.process.wait(STOP_BUDGET_S) == 0, soak.output()[-5000:]
    assert time.monotonic() - asked <= STOP_BUDGET_S
    assert "Traceback" not in soak.output(), soak.output()[-10000:]
