"""``GET /v1/events`` given a query parameter it does not take, over real HTTP: a 400 naming it, with
the one likely meant and those it takes. Skipped, ``camra=gate`` or ``zone=door`` (a filter it does
not have) answered with every event as if they were those asked for."""

from __future__ import annotations

import pytest

from tests.support.console_app import alerts
from tests.unit.api.conftest import ApiFactory
from tests.unit.api.fakes import FakeEvents


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("camra=gate", "unknown query parameter 'camra' (did you mean 'camera'?): "),
        ("limit=2&zone=door", "unknown query parameter 'zone': "),
        ("lable=person", "unknown query parameter 'lable' (did you mean 'label'?): "),
        ("before=9&Camera=gate", "unknown query parameter 'Camera' (did you mean 'camera'?): "),
    ],
)
def test_a_parameter_it_does_not_take_is_a_400_naming_it(
    make_api: ApiFactory, query: str, error: str
) -> None:
    events = FakeEvents(alerts("gate", "intrusion", "person", 3) + alerts("door", "intrusion", "person", 3))
    api = make_api(events=events)
    reply = api.get(f"/v1/events?{query}")
    assert reply.status == 400
    assert (
        reply.json()["error"] == f"{error}/v1/events takes limit, camera, rule, label, since, until, before"
    )
    assert events.asked == []
