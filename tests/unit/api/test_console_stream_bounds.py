"""The live view's bounds on viewers, over real HTTP: past the most one camera serves at once, or the
most the gateway serves in all, a viewer is answered 503 with ``Retry-After`` and a message naming
the bound, and counted; a place freed by a viewer who left is given to the next.

Each viewer holds a connection, a one-frame slot and a socket write of every frame: without a
bound, every stream opened (a wall of tabs, a script in a loop) was served until the gateway's
memory or uplink gave out."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager

from gateway.api.console.stream import MAX_VIEWERS, MAX_VIEWERS_PER_CAMERA, REFUSED_RETRY_AFTER_S
from gateway.domain import CameraStatus
from tests.unit.api.conftest import ApiFactory
from tests.unit.api.fakes import FakeCameras
from tests.unit.api.harness import ServedApi

WAIT_S = 10.0


class ManyCameras(FakeCameras):
    """``FakeCameras`` answering for every id in ``ids``, each with the same picture."""

    def __init__(self, ids: Sequence[str]) -> None:
        super().__init__()
        self.ids = frozenset(ids)

    def camera(self, camera_id: str) -> CameraStatus | None:
        return self.status if camera_id in self.ids else None

    def snapshot_jpeg(
        self, camera_id: str, *, motion: bool = False, longest_side: int | None = None
    ) -> bytes | None:
        return self.jpeg if camera_id in self.ids else None


def watch(
    api: ServedApi, camera_id: str, query: str = ""
) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    connection = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)
    connection.request("GET", f"/v1/cameras/{camera_id}/stream.mjpeg{query}")
    return connection, connection.getresponse()


@contextmanager
def viewers(
    api: ServedApi, camera_id: str, count: int, query: str = ""
) -> Iterator[list[http.client.HTTPConnection]]:
    opened: list[http.client.HTTPConnection] = []
    try:
        for _ in range(count):
            connection, response = watch(api, camera_id, query)
            opened.append(connection)
            assert response.status == 200, response.read()
        yield opened
    finally:
        for connection in opened:
            connection.close()


def refusals(api: ServedApi, limit: str) -> float:
    prefix = f'edge_gateway_console_stream_refusals_total{{limit="{limit}"}} '
    for line in api.get("/metrics").body.decode().splitlines():
        if line.startswith(prefix):
            return float(line.removeprefix(prefix))
    return 0.0


def test_a_viewer_past_the_cameras_bound_is_a_503_naming_it_and_a_freed_place_is_given(
    make_api: ApiFactory,
) -> None:
    api = make_api(cameras=FakeCameras())
    with viewers(api, "gate", MAX_VIEWERS_PER_CAMERA) as watching:
        # Given as many viewers of the camera as it serves at once, one more is refused, in words,
        connection, response = watch(api, "gate")
        try:
            assert response.status == 503
            assert response.getheader("Retry-After") == str(REFUSED_RETRY_AFTER_S)
            error = json.loads(response.read())["error"]
            assert error.startswith(f"camera 'gate' already has {MAX_VIEWERS_PER_CAMERA} live viewers"), error
            assert f"({MAX_VIEWERS_PER_CAMERA})" in error, error
        finally:
            connection.close()
        assert refusals(api, "camera") == 1
        # and once a viewer leaves, the next one is served.
        watching.pop().close()
        deadline = time.monotonic() + WAIT_S
        while True:
            connection, response = watch(api, "gate")
            watching.append(connection)
            if response.status == 200:
                break
            assert time.monotonic() < deadline, "the place a viewer left was never given to another"
            time.sleep(0.1)


def test_a_viewer_past_the_gateways_bound_is_a_503_naming_it(make_api: ApiFactory) -> None:
    full = MAX_VIEWERS // MAX_VIEWERS_PER_CAMERA
    ids = [f"camera-{number}" for number in range(full + 1)]
    api = make_api(cameras=ManyCameras(ids))
    with ExitStack() as stack:
        for camera_id in ids[:full]:
            stack.enter_context(viewers(api, camera_id, MAX_VIEWERS_PER_CAMERA))
        # Given the gateway serving as many live views as it serves at once, a camera nobody watches
        # yet is refused too, naming the gateway's bound.
        connection, response = watch(api, ids[full])
        stack.callback(connection.close)
        assert response.status == 503
        assert response.getheader("Retry-After") == str(REFUSED_RETRY_AFTER_S)
        error = json.loads(response.read())["error"]
        assert error.startswith(f"the gateway already serves {MAX_VIEWERS} live views"), error
        assert refusals(api, "total") == 1


def encoders(api: ServedApi) -> float:
    prefix = "edge_gateway_console_stream_encoders "
    [line] = [line for line in api.get("/metrics").body.decode().splitlines() if line.startswith(prefix)]
    return float(line.removeprefix(prefix))


def test_a_cameras_view_with_motion_outlined_is_encoded_apart_and_counts_towards_its_bound(
    make_api: ApiFactory,
) -> None:
    cameras = FakeCameras()
    api = make_api(cameras=cameras)
    plain = MAX_VIEWERS_PER_CAMERA // 2
    with viewers(api, "gate", plain), viewers(api, "gate", MAX_VIEWERS_PER_CAMERA - plain, "?motion=1"):
        # Given the camera watched both ways, each way is drawn by its own encoder, asked for its own
        assert encoders(api) == 2
        deadline = time.monotonic() + WAIT_S
        while not {False, True} <= set(cameras.motion_asked):
            assert time.monotonic() < deadline, cameras.motion_asked
            time.sleep(0.05)
        # and together they are the camera's viewers: one more either way is refused.
        for query in ("", "?motion=1"):
            connection, response = watch(api, "gate", query)
            try:
                assert response.status == 503
                error = json.loads(response.read())["error"]
                full = f"camera 'gate' already has {MAX_VIEWERS_PER_CAMERA} live viewers"
                assert error.startswith(full), error
            finally:
                connection.close()
    connection, response = watch(api, "gate", "?motion=on")
    try:
        assert response.status == 400
        assert json.loads(response.read())["error"] == "motion must be 1 or 0 (true or false), got 'on'"
    finally:
        connection.close()


def test_a_view_asked_at_a_size_is_drawn_at_the_next_size_up_shared_by_viewers_of_nearly_that_size(
    make_api: ApiFactory,
) -> None:
    cameras = FakeCameras()
    api = make_api(cameras=cameras)
    # Given two viewers asking 500 and 600 pixels, one 700 and one asking nothing
    with (
        viewers(api, "gate", 1, "?longest_side=500"),
        viewers(api, "gate", 1, "?longest_side=600"),
        viewers(api, "gate", 1, "?longest_side=700"),
        viewers(api, "gate", 1),
    ):
        # then the first two share the 640 picture, the third has 960 and the fourth 1280
        assert encoders(api) == 3
        deadline = time.monotonic() + WAIT_S
        while set(cameras.longest_sides_asked) != {640, 960, 1280}:
            assert time.monotonic() < deadline, cameras.longest_sides_asked
            time.sleep(0.05)
        # and past the largest size, the largest is drawn
        with viewers(api, "gate", 1, "?longest_side=4000&motion=1"):
            assert encoders(api) == 4
            # (appended to by the encoders' threads: one list may be a step ahead of the other)
            while (True, 1280) not in zip(cameras.motion_asked, cameras.longest_sides_asked, strict=False):
                assert time.monotonic() < deadline, cameras.longest_sides_asked
                time.sleep(0.05)
    for query, problem in (("?longest_side=0", "'0'"), ("?longest_side=big", "'big'")):
        connection, response = watch(api, "gate", query)
        try:
            assert response.status == 400
            error = json.loads(response.read())["error"]
            assert error == f"longest_side must be a whole number of pixels from 16 to 65535, got {problem}"
        finally:
            connection.close()
