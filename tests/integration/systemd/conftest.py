from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.systemd.notify_listener import NotifyListener


@pytest.fixture(params=["path", "abstract"])
def listener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NotifyListener]:
    """A real sd_notify socket, once as a filesystem path and once as an abstract name."""
    address: Path | str = (
        tmp_path / "notify.sock" if request.param == "path" else f"@edge-gateway-test-{uuid.uuid4().hex}"
    )
    with NotifyListener(address) as bound:
        yield bound
