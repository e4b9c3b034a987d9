"""The headers every answer of the gateway's API and the audit service's API carries, set in one
response hook rather than by each handler: ``X-Content-Type-Options: nosniff``, so a browser never
takes a JSON answer, an error or ``/metrics`` for a page or a script, and ``Cache-Control: no-store``
where the handler set no caching of its own, so the alerts, the config's geometry and the fleet's
state a browser was shown are not kept on its disk or by a proxy once the session ends. An answer
that sets its own caching keeps it: a page asset's ``no-cache`` (revalidated by its ETag), an
evidence image's ``immutable`` (its bytes never change under its digest).

The hook runs as each answer's head is prepared, middleware errors and aiohttp's own 404s included:
two headers set if absent, a constant cost. The inference answers the front door writes below
aiohttp (``gateway.api.front_door``) carry the same two as constant lines of their head.
"""

from __future__ import annotations

from aiohttp import web

ANSWER_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}


async def _answer_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in ANSWER_HEADERS.items():
        response.headers.setdefault(name, value)


def add_answer_headers(app: web.Application) -> None:
    """Every answer of ``app`` carries ``ANSWER_HEADERS``, where its handler set none of its own."""
    app.on_response_prepare.append(_answer_headers)
