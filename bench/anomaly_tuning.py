"""How the anomaly method's constants and the baselines' settings were chosen: on the tuning clip set
only (it refuses the hold-out set), offline (``replay.py``: the numpy reference or OpenCV, the
gateway's rules, no pipeline).

Usage::

    .venv/bin/python bench/anomaly_tuning.py method [--set KEY=VALUE ...] [--cache DIR]
    .venv/bin/python bench/anomaly_tuning.py baselines [--kind mog2|knn] [--history N ...]
        [--threshold T ...] [--shadows on|off ...] [--cache DIR]

``method`` prints one row for the gateway's method with ``Settings`` overridden by ``--set`` (e.g.
``--set basis_terms=3 --set "scales=fine,medium"``, ``--set headroom=false``): precision, recall,
median detection delay, drift-clip alerts, flagged normal frames, and the separation of events from
normal frames (raw 1.0 is the threshold):

- weakest event and events' p5: per ground-truth event, the 3rd-highest raw score while it is in
  view (the rule needs 3 frames), then the minimum and the 5th percentile over events;
- normal max: per clip, the 3rd-highest raw score more than a second from any object, then the
  maximum over clips;
- separation: the ratio of the two; larger means more room for footage that was never tuned on.

``baselines`` searches a grid of one subtractor's settings (each with min_area 0.2 / 0.5 / 1 / 2 % of
the frame); the grids searched are in ``baselines.py``. ``--cache`` keeps rendered clips as .npy
files (about 3.5 GB for the tuning set) between runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != BENCH]
sys.path.insert(0, str(BENCH.parent))

from bench.accuracy_metrics import ClipResult, summarise  # noqa: E402
from bench.baselines import Subtractor, SubtractorSettings  # noqa: E402
from bench.clip_sets import clip_set  # noqa: E402
from bench.clips import Clip, ClipSpec  # noqa: E402
from bench.replay import Decision, cached_frames, judge  # noqa: E402
from gateway.anomaly.features import FloatArray, GridSpec, cell_peaks, fine_cells, temporal_noise  # noqa: E402
from gateway.anomaly.fitting import fit  # noqa: E402
from gateway.anomaly.model import DEFAULT_SETTINGS, Settings  # noqa: E402
from gateway.anomaly.scoring import cell_scores  # noqa: E402

TUNING = "tuning"
CHUNK = 64


def _settings(pairs: Sequence[str]) -> Settings:
    changes: dict[str, object] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        current = getattr(DEFAULT_SETTINGS, key)
        if isinstance(current, tuple):
            changes[key] = tuple(part for part in value.split(",") if part)
        elif isinstance(current, bool):
            # bool("False") is True: spell the two values out
            if value.lower() not in ("true", "false"):
                raise SystemExit(f"--set {key}= takes true or false, got {value!r}")
            changes[key] = value.lower() == "true"
        else:
            changes[key] = type(current)(value)
    return dataclasses.replace(DEFAULT_SETTINGS, **changes)  # type: ignore[arg-type]


def _raw_scores(spec: ClipSpec, settings: Settings, cache: Path | None) -> FloatArray:
    grid = GridSpec()
    enroll, played = cached_frames(spec, cache)
    cells = np.concatenate(
        [fine_cells(enroll[start : start + CHUNK], grid) for start in range(0, len(enroll), CHUNK)]
    )
    model = fit(cells, temporal_noise(enroll, grid), cell_peaks(enroll, grid), grid, settings)
    raws = [
        cell_scores(model, fine_cells(played[start : start + CHUNK], grid))
        .reshape(-1, grid.cells)
        .max(axis=1)
        for start in range(0, len(played), CHUNK)
    ]
    return np.concatenate(raws)


def _method_clip(
    arguments: tuple[ClipSpec, Settings, Path | None],
) -> tuple[ClipResult, float | None, list[float]]:
    spec, settings, cache = arguments
    raw = _raw_scores(spec, settings, cache)
    result = judge(spec, [Decision(float(value / (value + 1)), bool(value >= 1.0)) for value in raw])
    clip, offset = Clip(spec), spec.enroll_frames
    events = [
        float(np.sort(raw[max(0, event.start - offset) : event.end - offset + 1])[-3])
        for event in clip.events
    ]
    normal = np.ones(len(raw), dtype=bool)
    margin = round(spec.fps)
    for seen in clip.presence:
        normal[max(0, seen.start - offset - margin) : seen.end - offset + margin + 1] = False
    return result, (float(np.sort(raw[normal])[-3]) if normal.sum() >= 3 else None), events


def method_row(settings: Settings, cache: Path | None) -> str:
    specs = clip_set(TUNING, quick=False)
    with ProcessPoolExecutor(max_workers=2) as pool:
        found = list(pool.map(_method_clip, [(spec, settings, cache) for spec in specs]))
    summary = summarise([result for result, _, _ in found])
    events = np.asarray([value for _, _, values in found for value in values])
    normal = max(value for _, value, _ in found if value is not None)
    p5 = float(np.quantile(events, 0.05))
    return (
        f"| {float(str(summary['precision'])):.3f} | {float(str(summary['recall'])):.3f} | "
        f"{float(str(summary['delay_median_s'])):.2f} | {summary['drift_false_alerts']} | "
        f"{summary['normal_frames_flagged']}/{summary['normal_frames']} | "
        f"{events.min():.2f} | {p5:.2f} | {normal:.2f} | {p5 / normal:.2f} |"
    )


def _blob_shares(arguments: tuple[ClipSpec, SubtractorSettings, Path | None]) -> FloatArray:
    spec, settings, cache = arguments
    enroll, played = cached_frames(spec, cache)
    subtractor = Subtractor(settings)
    subtractor.learn(enroll)
    return np.asarray([subtractor.largest_blob(frame) for frame in played], dtype=np.float32)


def baseline_rows(
    kind: str,
    histories: Sequence[int],
    thresholds: Sequence[float],
    shadows: Sequence[bool],
    cache: Path | None,
) -> list[str]:
    """One row per setting and min_area; ``net`` is events found minus false alerts (on the drift-only
    clip or elsewhere): the figure the settings in baselines.py are the best of."""
    specs = clip_set(TUNING, quick=False)
    rows = []
    for history, threshold, shadow in itertools.product(histories, thresholds, shadows):
        settings = SubtractorSettings(kind, history, threshold, shadow, 0.0)
        with ProcessPoolExecutor(max_workers=2) as pool:
            shares = list(pool.map(_blob_shares, [(spec, settings, cache) for spec in specs]))
        for min_area in (0.002, 0.005, 0.01, 0.02):
            results = [
                judge(spec, [Decision(float(share), bool(share >= min_area)) for share in clip])
                for spec, clip in zip(specs, shares, strict=True)
            ]
            summary = summarise(results)
            found = int(str(summary["detected_events"]))
            false = int(str(summary["predicted_events"])) - sum(result.true_positives for result in results)
            drift = int(str(summary["drift_false_alerts"]))
            rows.append(
                f"| {kind} | {history} | {threshold:g} | {shadow} | {min_area:g} | "
                f"{float(str(summary['precision'])):.3f} | {float(str(summary['recall'])):.3f} | "
                f"{drift} | {found - false - drift} |"
            )
            print(rows[-1], flush=True)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("what", choices=("method", "baselines"))
    parser.add_argument("--set", action="append", default=[], dest="changes", help="Settings field=value")
    parser.add_argument("--cache", type=Path, help="keep rendered clips here")
    parser.add_argument("--kind", choices=("mog2", "knn"), default="mog2", help="baselines: which subtractor")
    parser.add_argument("--history", type=int, nargs="+", default=[100, 500], help="baselines: frames")
    parser.add_argument("--threshold", type=float, nargs="+", default=[16.0, 25.0, 49.0])
    parser.add_argument("--shadows", choices=("on", "off"), nargs="+", default=["on", "off"])
    arguments = parser.parse_args(argv)
    if arguments.what == "method":
        header = (
            "| precision | recall | median delay s | drift alerts | flagged normal frames | weakest event |"
        )
        header += " events' p5 |"
        print(header + " normal max | separation |")
        print(method_row(_settings(arguments.changes), arguments.cache))
    else:
        print("| kind | history | threshold | shadows | min_area | precision | recall | drift alerts | net |")
        shadows = [choice == "on" for choice in arguments.shadows]
        baseline_rows(arguments.kind, arguments.history, arguments.threshold, shadows, arguments.cache)
    return 0


if __name__ == "__main__":
    sys.exit(main())
