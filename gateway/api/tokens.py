"""The API's bearer tokens on a reload: the tokens file's new tokens apply at once.

A reload reads the tokens file again (``serve``): a token revoked there must stop working at once,
not at the next restart. The app's ``Sessions`` takes the new tokens (``Sessions.replace``, which
replaces its ``TokenCheck``'s, the one the middleware asks) and ends the console sessions opened
with a token no longer among them; a live view watched with one ends within a frame
(``console.stream``). The tokens given to the app factory itself stay in force through every reload.
"""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web

from gateway.api.context import CONTEXT

FIXED_TOKENS: web.AppKey[frozenset[str]] = web.AppKey("edge_gateway_api_fixed_tokens", frozenset)
"""The tokens ``create_app`` was given besides the tokens file's: a reload keeps them."""


def replace_tokens(app: web.Application, from_file: Iterable[str]) -> None:
    """Give the running ``app`` (``create_app``'s) the tokens file's new tokens. ValueError, and the
    tokens in force kept, when that would leave none where there were some."""
    app[CONTEXT].sessions.replace(app[FIXED_TOKENS] | frozenset(from_file))
