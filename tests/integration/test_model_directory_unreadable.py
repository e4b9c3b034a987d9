"""A model directory the service's user may not read (mode 000) is named unreadable, not missing.

The repository skipped a directory it could not list without registering the model, so ``/v1/status``
and ``check-config --models`` said the scene-anomaly model "is not in the model repository" of a
directory an operator could see right there. The real command on a real directory, in a child
process that gives up root's right to read past a mode, as the service's own user has none.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CHILD = r"""
import ctypes, os, sys

if os.geteuid() == 0:
    # Root reads a folder whatever its mode, by CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH. Without
    # them (a process may always drop its own) the mode holds, as for the service's own user.
    libc = ctypes.CDLL(None, use_errno=True)
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    sets = (ctypes.c_uint32 * 6)()  # (effective, permitted, inheritable) of capabilities 0-31, 32-63
    if libc.capget(header, sets) != 0:
        raise OSError(ctypes.get_errno(), "capget")
    for index in (0, 1):
        sets[index] &= ~((1 << 1) | (1 << 2))  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
    if libc.capset(header, sets) != 0:
        raise OSError(ctypes.get_errno(), "capset")

from gateway.cli import main

sys.exit(main(sys.argv[1:]))
"""

CONFIG = """\
cameras:
  - id: hall
    url: rtsp://127.0.0.1:8554/hall
    anomaly:
      model: scene-hall
"""


def test_an_unreadable_anomaly_model_directory_is_named_unreadable(tmp_path: Path) -> None:
    # Given a repository whose scene-anomaly model's directory has mode 000
    models = tmp_path / "models"
    unreadable = models / "scene-hall"
    (unreadable / "1").mkdir(parents=True)
    (unreadable / "1" / "model.onnx").write_bytes(b"")
    config = tmp_path / "gateway.yaml"
    config.write_text(CONFIG)
    unreadable.chmod(0o000)
    try:
        # When the config is checked against it by a process the mode holds for
        child = subprocess.run(
            [sys.executable, "-c", CHILD, "check-config", str(config), "--models", str(models)],
            capture_output=True,
            text=True,
            timeout=90,
            cwd=Path(__file__).parents[2],
            check=False,
        )
    finally:
        unreadable.chmod(0o755)

    # Then the model is named with why it cannot serve, not as one the repository lacks
    assert child.returncode == 2, child.stderr
    assert child.stderr.splitlines()[-1] == (
        f"{config}:5: cameras[0].anomaly.model: anomaly model scene-hall cannot serve: cannot read "
        "its directory: Permission denied; its scene is not scored until it can"
    )
