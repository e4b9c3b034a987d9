"""The pipeline smoke of ``make test-arm64``: the demo clip through the gateway's real parts, run once
on the host (the x86_64 reference) and once on aarch64 under emulation, then compared.

It wires the embedded default's demo camera and face rule (``gateway.config.default_config``) from
public constructors, as ``gateway.pipeline`` does: the demo clip opened by the file camera's own
source (``source_factory``: OpenCV's FFmpeg decoder, played at the clip's frame rate) ->
``InferenceService`` (repository, batcher, worker pool, face-detector on ONNX Runtime's CPU
provider, pre- and post-processing) -> ``AlertDecider`` (the camera's tracker, the rules, the
commit) -> ``Outbox`` (SQLite, hash chain, HMAC; read back and verified), with the rule and tracker
specs built by ``gateway.pipeline.specs`` as ``serve`` builds them. Then the same service behind the
real HTTP app answers ``/v2`` infer requests from ``tritonclient.http``.

Which frames are judged: under emulation one face-detector run takes about 7 s (0.03 s on the host).
A camera's sampler takes whichever frame is newest when it falls due and drops the rest, so both the
frames judged and the capture times the rules see would follow the machine's speed, and two machines
would judge different frames. The smoke feeds a fixed set instead: every 5th decoded frame from 6 s
to 17.5 s of the clip (the demo camera at 2 of the clip's 10 fps: 24 frames, 10 with the face, 2
with the parcel, the rest empty), in order, each with capture time = a fixed epoch + its position in
the clip, through the same InferenceService, with 2 x workers frames in flight as the pipeline
allows, and the results reach the decider in frame order.
The decider's clock is clip time and its periodic tick is off (the tick only repeats, at wall time,
what each frame's own judgement already did), so both machines judge the same frames at the same
clip times and the rules must reach the same decisions. The camera's reader thread, the sampler and
motion gating are left out: pure Python, run under aarch64 by the unit suite with scripted sources.

``arm64_compare.py`` then compares the runs: the same alerts (rule, label, kind, events; scores
within 0.02) and /v2 outputs within 1e-4 of the reference's; the candidate reads the reference's /v2
inputs (``--inputs``), so both answer the same tensors.

Usage::

    python build/arm64_smoke.py --out DIR [--inputs REFERENCE_DIR/v2]

writes DIR/result.json (versions, per-frame top scores, the verified alerts, timings) and the /v2
inputs and outputs as DIR/v2/NAME.input.npy and NAME.output.npy.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import platform
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import demo_clip
import numpy as np
import onnxruntime
import tritonclient.http as triton
from arm64_compare import (
    INPUT_SUFFIX,
    OUTPUT_SUFFIX,
    RESULT_FILE,
    V2_DIRECTORY,
    Array,
    load_arrays,
    save_arrays,
)
from prometheus_client import CollectorRegistry

from gateway.api.app import RunningServer, create_app, serve
from gateway.config import AdmissionConfig, CameraConfig, GatewayConfig, HttpConfig, default_config
from gateway.decider import AlertDecider
from gateway.delivery.outbox import Outbox
from gateway.delivery.signing_key import load_or_create_key
from gateway.domain import DetectOutput, FrameResult, Image
from gateway.inference import preprocess
from gateway.inference.service import InferenceService
from gateway.ingest.sources import source_factory
from gateway.pipeline.specs import rule_specs, tracker_specs
from gateway.protocol.alerts import ZERO_HASH, verify_payload

ROOT = Path(__file__).resolve().parent.parent
MODEL = "face-detector"
DETECT_FPS = 2.0
EPOCH = 1_700_000_000.0
"""Capture time of the clip's first frame: fixed, so both machines' alerts carry the same frame_ts."""
UPDATE_INTERVAL_S = 1.0
"""One update a second while the face shows (the default, 10 s, would leave only start and end)."""
END_AFTER_S = 1.0
JUDGED_FROM_S, JUDGED_UNTIL_S = 6.0, 17.5
"""The part of the clip judged: the parcel's last second, the face's five (10 to 15 s) and 2.5 s
after it, where the event ends and nothing is to be found. An emulated frame costs about 7 s: the
whole clip's 40 frames took 287 s, the most of any step of test-arm64."""
RESULT_TIMEOUT_S = 600.0
NOISE_SEED = 17


@dataclass(frozen=True, slots=True)
class JudgedFrame:
    seq: int
    """1-based position in the clip."""
    captured_at: float
    image: Image


@dataclass(frozen=True, slots=True)
class FrameRecord:
    seq: int
    detections: int
    top_score: float | None


def smoke_config(workdir: Path) -> GatewayConfig:
    """The embedded default's demo camera and face rule; every change from it is named here."""
    repository = workdir / "models"
    repository.mkdir()
    # Only the face detector, and no warm-up batches: under emulation yolov8n-bench's warm-up, or a
    # warm-up batch of 8 per worker, costs minutes and judges nothing.
    (repository / MODEL).symlink_to(ROOT / "models" / MODEL)
    document = default_config(ROOT).model_dump(mode="json")
    document.update(
        device_id="arm64-smoke",
        state_dir=str(workdir / "state"),
        models={"repository": str(repository), "warmup_batches": 0, "poll_interval_s": 3600},
        inference={"providers": ["cpu"]},
    )
    (camera,) = document["cameras"]
    camera.update(detect_fps=DETECT_FPS, motion={"enabled": False})
    for rule in camera["rules"]:
        rule.update(update_interval_s=UPDATE_INTERVAL_S, end_after_s=END_AFTER_S)
    return GatewayConfig.model_validate(document)


def judged_frames(camera: CameraConfig) -> Iterator[JudgedFrame]:
    """Every frame the camera's detect_fps takes from the judged part of the clip (JUDGED_FROM_S to
    JUDGED_UNTIL_S), decoded by the camera's own source from the clip's start."""
    first = round(JUDGED_FROM_S * demo_clip.FPS)
    last = round(JUDGED_UNTIL_S * demo_clip.FPS)
    stride = round(demo_clip.FPS / camera.detect_fps)
    source = source_factory(camera)()
    try:
        for index in range(last + 1):
            source.grab()
            if index >= first and (index - first) % stride == 0:
                yield JudgedFrame(index + 1, EPOCH + index / demo_clip.FPS, source.retrieve())
    finally:
        source.close()


class ClipClock:
    """The decider's clock: the clip's time, set by the player."""

    def __init__(self) -> None:
        self.now = EPOCH

    def __call__(self) -> float:
        return self.now


def play(config: GatewayConfig, inference: InferenceService, outbox: Outbox) -> tuple[list[FrameRecord], str]:
    """Judge the clip's frames in order; returns a record per frame and the SHA-256 of the frames."""
    (camera,) = config.cameras
    assert camera.model is not None
    clock = ClipClock()
    decider = AlertDecider(
        outbox,
        rule_specs(config.cameras),
        announce=lambda _alert: None,
        registry=CollectorRegistry(),
        trackers=tracker_specs(config.cameras),
        clock=clock,
        tick_s=1e6,  # no periodic tick within the run
    )
    decider.start()
    in_flight: deque[tuple[JudgedFrame, Future[DetectOutput]]] = deque()
    records: list[FrameRecord] = []
    digest = hashlib.sha256()

    def settle(frame: JudgedFrame, future: Future[DetectOutput]) -> None:
        output = future.result(timeout=RESULT_TIMEOUT_S)
        result = FrameResult(
            camera.id, frame.seq, frame.captured_at, output.model, output.detections, output.anomaly_score
        )
        scores = [detection.score for detection in output.detections]
        records.append(FrameRecord(frame.seq, len(scores), max(scores) if scores else None))
        decider.submit(result)

    for frame in judged_frames(camera):
        digest.update(frame.image.tobytes())
        in_flight.append((frame, inference.submit_frame(camera.model, frame.image, None)))
        if len(in_flight) >= 2 * inference.pool.workers:
            settle(*in_flight.popleft())
    while in_flight:
        settle(*in_flight.popleft())
    # End what is still open once the clip is over, at the clip time a tick would have.
    clock.now = EPOCH + (records[-1].seq - 1) / demo_clip.FPS + END_AFTER_S + 0.001
    if not decider.stop(RESULT_TIMEOUT_S):
        raise SystemExit("the decider did not finish judging the clip")
    return records, digest.hexdigest()


def committed_alerts(outbox: Outbox, key: bytes) -> list[dict[str, Any]]:
    """Every alert in the outbox, its hash chain and signature verified."""
    alerts = []
    previous = ZERO_HASH
    for stored in outbox.replay(1, outbox.last_seq):
        alert = verify_payload(stored.payload, key, previous)
        previous = alert.hash
        event = alert.event
        alerts.append(
            {
                "seq": alert.seq,
                "kind": event.kind.value,
                "rule": event.rule,
                "label": event.label,
                "score": event.score,
                "event_id": event.event_id,
                "zone": event.zone,
                "box": event.box,
                "frame_ts": event.frame_ts,
            }
        )
    return alerts


def v2_inputs(inference: InferenceService) -> dict[str, Array]:
    """The reference's /v2 inputs: the demo's face image as the model sees it, and seeded noise."""
    spec = inference.repository.route(MODEL, None).config.preprocess
    assert spec is not None
    face = cv2.imread(str(demo_clip.HEAD_IMAGE), cv2.IMREAD_COLOR)
    if face is None:
        raise SystemExit(f"cannot read {demo_clip.HEAD_IMAGE}")
    item, _ = preprocess.prepare(np.asarray(face, dtype=np.uint8), spec)
    noise = np.random.default_rng(NOISE_SEED).random((1, *item.shape), dtype=np.float32)
    return {"face": item[np.newaxis].astype(np.float32), "noise": noise}


class _LoopThread:
    """An asyncio loop in a thread for the HTTP server; tritonclient's gevent stays in the caller's."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="smoke-http", daemon=True)
        self._thread.start()

    def run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(60)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


def v2_outputs(
    inference: InferenceService, registry: CollectorRegistry, inputs: Mapping[str, Array]
) -> dict[str, Array]:
    """Each input through ``POST /v2/models/face-detector/infer`` (binary tensors), one request each."""
    status = inference.status(MODEL, None)
    input_name, output_name = status.inputs[0].name, status.outputs[0].name
    app = create_app(
        http=HttpConfig(port=0),
        admission=AdmissionConfig(),
        inference=inference,
        cameras=None,
        events=None,
        registry=registry,
    )
    loop = _LoopThread()
    try:
        server: RunningServer = loop.run(serve(app, "127.0.0.1", 0))
        client = triton.InferenceServerClient(
            f"127.0.0.1:{server.port}", connection_timeout=60, network_timeout=RESULT_TIMEOUT_S
        )
        try:
            outputs = {}
            for name, array in inputs.items():
                tensor = triton.InferInput(input_name, list(array.shape), "FP32")
                tensor.set_data_from_numpy(array, binary_data=True)
                requested = [triton.InferRequestedOutput(output_name, binary_data=True)]
                reply = client.infer(MODEL, [tensor], outputs=requested)
                outputs[name] = reply.as_numpy(output_name)
        finally:
            client.close()
            loop.run(server.close())
    finally:
        loop.close()
    return outputs


def platform_versions() -> dict[str, str]:
    return {
        "machine": platform.machine(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "onnxruntime": onnxruntime.__version__,
        "opencv": cv2.__version__,
    }


def run(out: Path, inputs_directory: Path | None) -> int:
    out.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="arm64-smoke-") as directory:
        config = smoke_config(Path(directory))
        registry = CollectorRegistry()
        inference = InferenceService.from_config(config, registry)
        inference.start()
        outbox = Outbox.from_config(config, registry)
        try:
            started = time.perf_counter()
            records, frames_sha256 = play(config, inference, outbox)
            played = time.perf_counter()
            alerts = committed_alerts(outbox, load_or_create_key(config.state_dir))
            if inputs_directory is None:
                inputs = v2_inputs(inference)
            else:
                inputs = load_arrays(inputs_directory, INPUT_SUFFIX)
            outputs = v2_outputs(inference, registry, inputs)
            finished = time.perf_counter()
        finally:
            outbox.close()
            inference.stop()
    save_arrays(out / V2_DIRECTORY, INPUT_SUFFIX, inputs)
    save_arrays(out / V2_DIRECTORY, OUTPUT_SUFFIX, outputs)
    versions = platform_versions()
    result = {
        "platform": versions,
        "frames": {"judged": len(records), "sha256": frames_sha256},
        "per_frame": [asdict(record) for record in records],
        "alerts": alerts,
        "seconds": {
            "start": started - began,
            "pipeline": played - started,
            "v2": finished - played,
            "total": finished - began,
        },
    }
    (out / RESULT_FILE).write_text(json.dumps(result, indent=2) + "\n")
    kinds = ", ".join(f"{alert['kind']} {alert['score']:.3f}" for alert in alerts)
    print(
        f"{versions['machine']}: {len(records)} frames judged in {played - started:.1f} s, "
        f"{len(alerts)} alerts ({kinds}); /v2: {len(outputs)} requests in {finished - played:.1f} s"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, required=True, help="where result.json and v2/ go")
    parser.add_argument(
        "--inputs", type=Path, help="the reference's v2/ directory: answer its inputs (default: make them)"
    )
    arguments = parser.parse_args(argv)
    if arguments.inputs is not None and not any(arguments.inputs.glob(f"*{INPUT_SUFFIX}")):
        parser.error(f"--inputs {arguments.inputs}: no *{INPUT_SUFFIX} files there")
    return run(arguments.out, arguments.inputs)


if __name__ == "__main__":
    sys.exit(main())
