"""An anomaly model file's weights checked against the digest enrollment recorded in its metadata
(``gateway.enrolled_file``), before any engine is made from them.

Damaged weights load and run: one bit flipped in an enrolled model's threshold (a failing SD card)
made every normal frame anomalous, and flipped exponents elsewhere made its scores NaN, with nothing
said. A version whose weights do not match its digest fails to load like any other bad model file:
FAILED with the reason, or, on hot reload, the previous load keeps serving. A version enrolled
before the digest was recorded has none: it loads unchecked, said once per load.

Only versions whose model.yaml says ``postprocess.kind: anomaly`` are read here: a detector's file
is not parsed a second time (a large one would be copied into Python's heap for nothing). The check
parses the file and hashes its initializers: on the model enrollment writes (320 x 180, 18 x 32
cells: 138 KB, 120 initializers) it took 0.77 ms (median of 300, one core), against 10 ms for its
ONNX Runtime session alone; on a 1280 x 720, 72 x 128 cell model (2 MB, enrolled under a model.yaml
edited to that size) 2.3 ms.
"""

from __future__ import annotations

import logging
from pathlib import Path

import onnx

from gateway.domain import ModelRef
from gateway.enrolled_file import DIGEST_KEY, PRODUCER, weights_digest
from gateway.errors import ModelLoadError

__all__ = ["check_weights"]

logger = logging.getLogger(__name__)


def check_weights(ref: ModelRef, path: Path) -> None:
    """ModelLoadError, naming ``path``, when its weights do not match the digest in its metadata or
    cannot be read to compare; a file enrollment wrote before the digest was recorded is logged as
    unchecked. A file that does not parse passes: the engine names that problem, as for any model."""
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception:  # protobuf's DecodeError, an OSError: the engine's load fails on them too
        return
    entries = {entry.key: entry.value for entry in proto.metadata_props}
    recorded = entries.get(DIGEST_KEY)
    if recorded is None:
        if proto.producer_name != PRODUCER:
            return  # an anomaly model made elsewhere: its maker recorded no digest
        if not entries:
            # Every version of enrollment wrote metadata, the digest first since it was recorded.
            raise ModelLoadError(f"{path} is cut short: an enrolled model without its metadata")
        logger.warning(
            "model %s: %s was enrolled before the digest of its weights was recorded: loaded "
            "unchecked (enroll the camera again to have its weights checked at load)",
            ref,
            path,
            extra={"model": str(ref)},
        )
        return
    try:
        found = weights_digest(proto.graph, path.parent)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{path}: its weights cannot be read to check them: {exc}") from exc
    if found != recorded:
        raise ModelLoadError(
            f"{path}: its weights do not match the digest enrollment wrote ({DIGEST_KEY} in its "
            "metadata): the file is damaged (flipped bits, a copy cut short); copy it again, pin "
            "another version or enroll the camera again"
        )
