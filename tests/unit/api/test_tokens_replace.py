"""Tokens replaced while the API runs (a reload of the tokens file): a replacement applies whole, a
session opened with a token no longer taken ends, a replacement with no tokens is refused rather
than opening the API, and the tokens the app factory was given stay through a reload."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.api.tokens import replace_tokens
from gateway.config import HttpConfig
from gateway.protocol.bearer import TokenCheck
from gateway.web.session import COOKIE
from tests.unit.api.conftest import ApiFactory


def test_a_replacement_takes_the_new_tokens_only() -> None:
    tokens = TokenCheck({"old", "kept"})
    old_client = tokens.client_of("Bearer old")
    assert old_client is not None
    assert tokens.takes(old_client)

    tokens.replace({"new", "kept"})

    assert tokens.client_of("Bearer old") is None
    assert not tokens.takes(old_client)
    assert tokens.client_of("Bearer new") is not None
    assert tokens.client_of("Bearer kept") is not None


def test_a_replacement_with_no_tokens_keeps_those_in_force() -> None:
    tokens = TokenCheck({"only"})

    with pytest.raises(ValueError, match="no tokens"):
        tokens.replace(())

    assert tokens.enabled
    assert tokens.client_of("Bearer only") is not None


def test_a_reload_keeps_the_factorys_tokens_and_ends_the_sessions_of_revoked_ones(
    make_api: ApiFactory, tmp_path: Path
) -> None:
    # Given an app with a token of its own, one from its tokens file and a console session opened
    # with the file's
    tokens_file = tmp_path / "tokens"
    tokens_file.write_text("leaked\n")
    api = make_api(tokens=frozenset({"fixed"}), http=HttpConfig(tokens_file=tokens_file))
    login = api.post_json("/v1/session", {"token": "leaked"})
    assert login.status == 200, login.body
    cookie = {"Cookie": login.headers["Set-Cookie"].split(";")[0]}
    assert cookie["Cookie"].startswith(f"{COOKIE}=")
    assert api.get("/v2", cookie).status == 200

    # When a reload's tokens file no longer has the leaked token
    replace_tokens(api.app, {"new"})

    # Then neither it nor its session is taken; the factory's token and the file's new one are
    assert api.get("/v2", {"Authorization": "Bearer leaked"}).status == 401
    assert api.get("/v2", cookie).status == 401
    assert api.get("/v2", {"Authorization": "Bearer fixed"}).status == 200
    assert api.get("/v2", {"Authorization": "Bearer new"}).status == 200
