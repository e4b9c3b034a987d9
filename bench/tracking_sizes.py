"""face-detector's recall per face size on the tracking clips' scenes, to choose the sprite sizes.

For each face height (pixels, in a 640x360 frame), ``--samples`` frames: a random textured scene of
bench/tracking_clips.py with one head pasted at a random place and tint, through the gateway's own
pre-processing, the shipped face-detector model (ONNX Runtime, CPU) and post-processing. A face
counts as found when a detection overlaps its truth box with IoU >= 0.5. Reports recall, the score
spread and the labels the detector gives it (FACE_FEMALE / FACE_MALE: the tracker never mixes
labels, so a face whose label flips would break its track).

Usage: ``.venv/bin/python bench/tracking_sizes.py`` -> bench/results/tracking-sizes.json + .md
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != BENCH]
sys.path.insert(0, str(BENCH.parent))

from bench.tracking_clips import HEIGHT, WIDTH, Clip, ClipSpec, Line, Mover, Waypoint  # noqa: E402
from bench.tracking_metrics import box_iou  # noqa: E402
from gateway.inference.engines.base import EngineOptions  # noqa: E402
from gateway.inference.engines.onnx import OnnxEngine  # noqa: E402
from gateway.inference.model_config import load_model_config  # noqa: E402
from gateway.inference.postprocess import decode  # noqa: E402
from gateway.inference.preprocess import prepare  # noqa: E402

SIZES = (24, 32, 40, 48, 56, 64, 72, 80, 96)
MODEL = BENCH.parent / "models" / "face-detector"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=60)
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "tracking-sizes.json")
    arguments = parser.parse_args(argv)
    config = load_model_config(MODEL / "model.yaml")
    assert config.preprocess is not None
    engine = OnnxEngine(MODEL / "1" / "model.onnx", EngineOptions(providers=("cpu",), intra_op_threads=1))
    rng = np.random.default_rng(12)
    rows = []
    began = time.perf_counter()
    try:
        for size in SIZES:
            found, scores, labels = 0, [], Counter[str]()
            for sample in range(arguments.samples):
                half_width = size * 0.55 / WIDTH
                x = float(rng.uniform(0.05 + half_width, 0.95 - half_width))
                y = float(rng.uniform(0.1 + size / HEIGHT, 0.95))
                tint = tuple(float(value) for value in rng.uniform(0.8, 1.15, size=3))
                mover = Mover("face", size, (Waypoint(0.0, x, y), Waypoint(1.0, x, y)), tint=tint)  # type: ignore[arg-type]
                spec = ClipSpec(
                    "sizes", "sizes", 1000 * size + sample, (mover,), Line("l", ((0, 0), (1, 1)), (1, 0)), ()
                )
                clip = Clip(spec)
                frame = next(clip.frames())
                truth = clip.truth(0)[0].box
                item, letterbox = prepare(frame, config.preprocess)
                outputs = engine.run({"images": item[np.newaxis]})
                detections, _ = decode(
                    {name: value[0] for name, value in outputs.items()}, letterbox, config.postprocess
                )
                hits = [d for d in detections if d.box is not None and box_iou(d.box, truth) >= 0.5]
                if hits:
                    best = max(hits, key=lambda detection: detection.score)
                    found += 1
                    scores.append(best.score)
                    labels[best.label] += 1
            rows.append(
                {
                    "face_px": size,
                    "samples": arguments.samples,
                    "recall": found / arguments.samples,
                    "score_p10": float(np.percentile(scores, 10)) if scores else None,
                    "score_median": float(np.median(scores)) if scores else None,
                    "labels": dict(labels),
                }
            )
            print(rows[-1], flush=True)
    finally:
        engine.close()
    document = {
        "benchmark": "tracking-sizes",
        "frame": [WIDTH, HEIGHT],
        "sizes": rows,
        "seconds": time.perf_counter() - began,
    }
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_text(json.dumps(document, indent=2) + "\n")
    lines = [
        "# face-detector recall per face size (640x360 frames, textured scenes)",
        "",
        "`.venv/bin/python bench/tracking_sizes.py`: one pasted head per frame, "
        "found = a detection with IoU >= 0.5.",
        "",
        "| face height px | frames | recall | score p10 | score median | labels |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        p10 = "-" if row["score_p10"] is None else f"{row['score_p10']:.2f}"
        median = "-" if row["score_median"] is None else f"{row['score_median']:.2f}"
        lines.append(
            f"| {row['face_px']} | {row['samples']} | {row['recall']:.3f} | {p10} | {median} "
            f"| {row['labels']} |"
        )
    arguments.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
