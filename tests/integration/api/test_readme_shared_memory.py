"""The README's shared-memory example, run as written (in a process of its own, as an app on the box
runs it) against a real gateway serving the shipped face detector: what it prints is what its
comment says."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from pathlib import Path

from tests.integration.api.running_gateway import RunningGateway

README = Path(__file__).resolve().parents[3] / "README.md"
PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def test_the_readme_s_shared_memory_example_runs_as_written(running: RunningGateway) -> None:
    (example,) = [block for block in PYTHON_BLOCK.findall(README.read_text()) if "set_shared_memory" in block]
    expected = re.search(r"\.shape\)  # (\(.*\))", example)
    assert expected is not None
    # The gateway's port, and a key of this test's own (the example's would meet another run's)
    key = f"/edge-gateway-readme-{uuid.uuid4().hex}"
    script = example.replace("127.0.0.1:8080", f"127.0.0.1:{running.api.port}").replace(
        '"/frames"', repr(key)
    )
    script = script.replace('"/dev/shm/frames"', repr(f"/dev/shm{key}"))
    assert script.count(repr(key)) == 2
    assert script.count(repr(f"/dev/shm{key}")) == 1
    finished = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip() == expected.group(1)
    assert not Path("/dev/shm", key.lstrip("/")).exists()
