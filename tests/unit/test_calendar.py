"""The volunteer's calendar feed: an address only the deployment can forge, and valid iCalendar."""

import datetime as dt

import pytest
from icalendar import Calendar

from common.errors import NotFound
from services.gateway.calendar import feed_token, schedule_ics, volunteer_of

CN = dt.timezone(dt.timedelta(hours=8))


def test_the_feed_address_names_its_volunteer_and_cannot_be_forged():
    token = feed_token("s3cret", "haining-v01")
    assert volunteer_of("s3cret", token) == "haining-v01"
    assert volunteer_of("s3cret", token + ".ics") == "haining-v01"
    for forged in (feed_token("other", "haining-v01"), "haining-v02." + token.split(".")[1], "nodot", ""):
        with pytest.raises(NotFound):
            volunteer_of("s3cret", forged)


def test_accepted_offers_become_events_at_their_times():
    start = dt.datetime(2026, 12, 5, 14, 0, tzinfo=CN)
    offer = {
        "offer_id": "f1",
        "order_id": "o1",
        "skill": "声乐",
        "start": start.isoformat(),
        "end": (start + dt.timedelta(hours=2)).isoformat(),
        "program_title": "劳动者之歌",
        "site_address": "3 号厂房",
        "district": "海宁",
    }
    cal = Calendar.from_ical(schedule_ics("李老师", [offer]))
    (event,) = list(cal.walk("VEVENT"))
    assert event.decoded("dtstart") == start and event.decoded("dtend") == start + dt.timedelta(hours=2)
    assert str(event["summary"]) == "劳动者之歌（声乐）" and str(event["location"]) == "海宁 3 号厂房"
    assert "李老师" in str(cal["x-wr-calname"])
