"""Triton's model repository extension over /v2 (the server metadata lists it): the index, with its
``ready`` filter, and explicit load / unload, refused as Triton refuses them while it polls its
repository, through the real server on a real repository."""

from __future__ import annotations

import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from tests.integration.api.conftest import Gateway
from tests.integration.api.raw_requests import post_json


def test_the_index_asked_for_ready_models_lists_only_those(gateway: Gateway) -> None:
    # Given a repository with a model that failed to load
    status, everything = post_json(gateway, "/v2/repository/index", b"")
    assert status == 200
    assert any(entry["name"] == "broken" and entry["state"] == "UNAVAILABLE" for entry in everything)
    # When a client asks for the ready ones, as Triton's index request {"ready": true} does
    status, ready = post_json(gateway, "/v2/repository/index", b'{"ready": true}')
    # Then the failed model is left out, and every ready one is there
    assert status == 200
    assert ready == [entry for entry in everything if entry["state"] == "READY"]
    assert all(entry["name"] != "broken" for entry in ready)
    assert post_json(gateway, "/v2/repository/index", b'{"ready": false}') == (200, everything)


@pytest.mark.parametrize("body", [b'{"ready": "yes"}', b"[true]", b"{"])
def test_an_index_request_that_is_not_triton_s_is_a_400(gateway: Gateway, body: bytes) -> None:
    status, answer = post_json(gateway, "/v2/repository/index", body)
    assert status == 400
    assert "repository index request" in answer["error"]


@pytest.mark.parametrize("action", ["load_model", "unload_model"])
def test_explicit_load_and_unload_are_refused_as_triton_refuses_them_while_polling(
    gateway: Gateway, action: str
) -> None:
    # When a stock client asks to load or unload a model (it was answered 404 "Not Found", which
    # reads as a model that does not exist)
    with (
        triton.InferenceServerClient(gateway.url) as client,
        pytest.raises(InferenceServerException) as refused,
    ):
        getattr(client, action)("affine")
    # Then it is told, as by Triton in its polling mode, that the repository decides what is loaded
    assert refused.value.status() == "503"
    assert "explicit model load / unload is not allowed if polling is enabled" in str(refused.value.message())
