"""``GET /v1/events`` given a query parameter twice, over real HTTP: a 400 naming the parameter. Each
takes one value, and the first of several was used alone: ``camera=a&camera=b`` answered with camera
a's events as if they were every event asked for."""

from __future__ import annotations

import pytest

from tests.support.console_app import alerts
from tests.unit.api.conftest import ApiFactory
from tests.unit.api.fakes import FakeEvents


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("camera=gate&camera=door", "camera"),
        ("limit=5&limit=1", "limit"),
        ("before=9&before=3", "before"),
        ("camera=gate&limit=2&camera=gate", "camera"),
    ],
)
def test_a_parameter_given_twice_is_a_400_naming_it(make_api: ApiFactory, query: str, name: str) -> None:
    events = FakeEvents(alerts("gate", "intrusion", "person", 3) + alerts("door", "intrusion", "person", 3))
    api = make_api(events=events)
    reply = api.get(f"/v1/events?{query}")
    assert reply.status == 400
    assert reply.json()["error"] == f"{name} is given 2 times: give it once"
    assert events.asked == []


@pytest.mark.parametrize("query", ["", "camera=gate", "limit=2&before=5&camera=gate"])
def test_each_parameter_once_is_answered(make_api: ApiFactory, query: str) -> None:
    api = make_api(events=FakeEvents(alerts("gate", "intrusion", "person", 3)))
    reply = api.get(f"/v1/events?{query}")
    assert reply.status == 200
    assert reply.json()["events"]


def test_an_empty_limit_is_still_refused(make_api: ApiFactory) -> None:
    api = make_api(events=FakeEvents())
    reply = api.get("/v1/events?limit=")
    assert reply.status == 400
    assert "limit must be an integer" in reply.json()["error"]
