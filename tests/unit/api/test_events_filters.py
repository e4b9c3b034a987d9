"""``GET /v1/events?rule=&label=`` over real HTTP: the alerts of that rule and label, with the camera
and paging filters, each parameter once."""

from __future__ import annotations

import pytest

from tests.support.console_app import alerts
from tests.unit.api.conftest import ApiFactory
from tests.unit.api.fakes import FakeEvents
from tests.unit.api.harness import ServedApi


def listed(api: ServedApi, query: str) -> list[tuple[str, str, str]]:
    reply = api.get(f"/v1/events?{query}")
    assert reply.status == 200, reply.json()
    return sorted({(event["camera_id"], event["rule"], event["label"]) for event in reply.json()["events"]})


def test_events_are_filtered_by_rule_and_label(make_api: ApiFactory) -> None:
    api = make_api(
        events=FakeEvents(
            alerts("gate", "intrusion", "person", 2)
            + alerts("gate", "loiter", "person", 2)
            + alerts("door", "intrusion", "car", 2)
        )
    )
    assert listed(api, "rule=intrusion") == [("door", "intrusion", "car"), ("gate", "intrusion", "person")]
    assert listed(api, "label=person") == [("gate", "intrusion", "person"), ("gate", "loiter", "person")]
    assert listed(api, "rule=intrusion&label=person") == [("gate", "intrusion", "person")]
    assert listed(api, "camera=door&rule=loiter") == []
    assert listed(api, "rule=&label=") == listed(api, "")  # empty: no filter, as camera=


def test_a_filter_given_twice_is_a_400_naming_it(make_api: ApiFactory) -> None:
    reply = make_api(events=FakeEvents()).get("/v1/events?rule=a&rule=b")
    assert reply.status == 400
    assert reply.json()["error"] == "rule is given 2 times: give it once"


def test_next_before_pages_back_to_the_last_page_which_says_it_is_the_last(make_api: ApiFactory) -> None:
    api = make_api(
        events=FakeEvents(alerts("gate", "intrusion", "person", 5) + alerts("door", "loiter", "car", 2))
    )
    seen: list[int] = []
    query = "limit=3&rule=intrusion"
    for _ in range(5):  # 4 pages of 3 hold the 10: a fifth would be one too many
        page = api.get(f"/v1/events?{query}").json()
        seen += [event["seq"] for event in page["events"]]
        if page["next_before"] is None:
            break
        assert page["next_before"] == seen[-1]
        query = f"limit=3&rule=intrusion&before={page['next_before']}"
    else:
        pytest.fail(f"next_before never ended the paging: {seen}")
    assert seen == list(range(10, 0, -1))
    # A page that holds exactly the last alerts says so: no empty page after it
    last = api.get("/v1/events?limit=10&rule=intrusion").json()
    assert len(last["events"]) == 10
    assert last["next_before"] is None


START = "2025-11-24T16:00:00Z"
"""The frame_ts of the first alert ``alerts`` makes; each next one a second later."""


@pytest.mark.parametrize(
    ("query", "seqs"),
    [
        ("since=2025-11-24T16:00:02Z", [6, 5, 4, 3]),
        ("until=2025-11-24T16:00:02Z", [2, 1]),
        ("since=2025-11-24T16:00:01Z&until=2025-11-24T16:00:03Z", [3, 2]),
        # the same moments in another zone, its "+" escaped or not (a query reads "+" as a space)
        ("since=2025-11-24T17:00:01%2B01:00&until=2025-11-24T17:00:03+01:00", [3, 2]),
        ("since=2025-11-24T16:00:01.5Z", [6, 5, 4, 3]),
        ("since=2025-11-24T16:00:09Z", []),
    ],
)
def test_events_are_filtered_by_their_frame_time(make_api: ApiFactory, query: str, seqs: list[int]) -> None:
    api = make_api(events=FakeEvents(alerts("gate", "intrusion", "person", 3)))
    reply = api.get(f"/v1/events?{query}")
    assert reply.status == 200, reply.json()
    assert [event["seq"] for event in reply.json()["events"]] == seqs


@pytest.mark.parametrize(
    ("query", "error"),
    [
        (
            "since=2025-11-24T16:00:00",
            "since must name its time zone (2026-12-04T22:00:00Z, or +01:00), got '2025-11-24T16:00:00'",
        ),
        ("until=yesterday", "until must be a time such as 2026-12-04T22:00:00Z, got 'yesterday'"),
        # ISO 8601's other forms, which Python reads and RFC 3339 does not name
        *(
            (f"since={written}", f"since must be a time such as 2026-12-04T22:00:00Z, got {written!r}")
            for written in ("2026-W49-5T22:00:00Z", "20261204T220000Z", "2026-12-04T22:00Z", "2026-12-04")
        ),
        (
            f"since={START}&until={START}",
            f"until must be later than since, got since='{START}', until='{START}'",
        ),
        (f"since={START}&since={START}", "since is given 2 times: give it once"),
    ],
)
def test_a_time_it_cannot_read_is_a_400_saying_why(make_api: ApiFactory, query: str, error: str) -> None:
    events = FakeEvents(alerts("gate", "intrusion", "person", 3))
    reply = make_api(events=events).get(f"/v1/events?{query}")
    assert reply.status == 400
    assert reply.json()["error"] == error
    assert events.asked == []
