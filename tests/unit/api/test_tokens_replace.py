"""The API's replaceable tokens: a replacement applies whole, a session opened with a token no
longer taken ends, and a replacement with no tokens is refused rather than opening the API."""

from __future__ import annotations

import pytest

from gateway.api.tokens import ReplaceableTokens


def test_a_replacement_takes_the_new_tokens_and_the_fixed_ones() -> None:
    tokens = ReplaceableTokens({"fixed"}, {"old"})
    old_client = tokens.client_of("Bearer old")
    assert old_client is not None
    assert tokens.takes(old_client)

    tokens.replace({"new"})

    assert tokens.client_of("Bearer old") is None
    assert not tokens.takes(old_client)
    assert tokens.client_of("Bearer new") is not None
    assert tokens.client_of("Bearer fixed") is not None


def test_a_replacement_with_no_tokens_keeps_those_in_force() -> None:
    tokens = ReplaceableTokens((), {"only"})

    with pytest.raises(ValueError, match="no tokens"):
        tokens.replace(())

    assert tokens.enabled
    assert tokens.client_of("Bearer only") is not None
