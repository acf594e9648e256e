"""The order's state machine, as the rules read."""

import datetime as dt

import pytest

from common.errors import Conflict, Invalid
from services.orders import domain

T0 = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.timezone.utc)
W = {"start": T0 + dt.timedelta(days=3), "end": T0 + dt.timedelta(days=3, hours=4)}


def an_order(**over):
    data = {
        "enterprise_id": "e1",
        "palace_id": "p1",
        "program_id": "song",
        "site_address": "一号车间",
        "district": "海宁",
        "audience_size": 200,
        "windows": [W],
        "contact_name": "王芳",
        "contact_phone": "13800000000",
        **over,
    }
    return domain.new_order("o1", data, "劳动者之歌", T0)


def test_a_new_order_is_submitted_with_its_history():
    order = an_order()
    assert order["status"] == "submitted"
    assert order["history"] == [{"status": "submitted", "at": T0, "reason": None}]
    assert order["urgent"] is False and order["placed_by"] is None and not domain.placed_by_palace(order)


def test_an_order_keeps_that_the_palace_placed_it_urgently_and_who_did():
    by = {"username": "dispatcher-haining", "role": "dispatcher"}
    order = domain.new_order("o2", an_order(), "劳动者之歌", T0, urgent=True, placed_by=by)
    assert order["urgent"] is True and order["placed_by"] == by and domain.placed_by_palace(order)
    own = domain.new_order("o3", an_order(), None, T0, placed_by={"username": "ent1", "role": "enterprise"})
    assert not domain.placed_by_palace(own)
    amended, _ = domain.amend(order, {"audience_size": 50}, T0)
    assert amended["urgent"] is True and amended["placed_by"] == by


@pytest.mark.parametrize(
    "path",
    [
        ["accepted", "scheduled", "delivered", "closed"],
        ["rejected"],
        ["cancelled"],
        ["accepted", "cancelled"],
        ["accepted", "scheduled", "cancelled"],
        ["accepted", "unfulfillable", "accepted", "scheduled"],
    ],
)
def test_the_order_moves_along_the_allowed_paths(path):
    order = an_order()
    for status in path:
        order = domain.move(order, status, T0)
    assert order["status"] == path[-1]
    assert [h["status"] for h in order["history"]] == ["submitted", *path]


@pytest.mark.parametrize(
    "path, refused",
    [
        (["accepted", "scheduled", "delivered"], "cancelled"),
        (["rejected"], "accepted"),
        (["cancelled"], "accepted"),
        ([], "scheduled"),
        ([], "closed"),
        (["accepted", "scheduled", "delivered", "closed"], "delivered"),
    ],
)
def test_an_illegal_transition_is_refused_and_changes_nothing(path, refused):
    order = an_order()
    for status in path:
        order = domain.move(order, status, T0)
    before = dict(order)
    with pytest.raises(Conflict) as err:
        domain.move(order, refused, T0)
    assert err.value.code == "ILLEGAL_TRANSITION"
    assert "不能变为" in err.value.message
    assert order == before


def test_an_order_can_be_amended_before_scheduling_and_lists_what_changed():
    order, changed = domain.amend(an_order(), {"audience_size": 250, "district": "海宁"}, T0)
    assert order["audience_size"] == 250 and changed == ["audience_size"]


def test_a_scheduled_order_can_no_longer_be_amended():
    order = domain.move(domain.move(an_order(), "accepted", T0), "scheduled", T0)
    with pytest.raises(Conflict) as err:
        domain.amend(order, {"audience_size": 10}, T0)
    assert err.value.code == "NOT_AMENDABLE"


def test_an_amendment_cannot_leave_the_order_without_program_or_request():
    with pytest.raises(Invalid):
        domain.amend(an_order(), {"program_id": None}, T0)


def test_the_snapshot_carries_what_dispatch_plans_with_and_not_the_contact():
    snap = domain.snapshot(an_order())
    assert snap["windows"] == [W] and "contact_phone" not in snap


def test_a_weekly_class_for_eight_weeks_keeps_its_local_time():
    cn = dt.timezone(dt.timedelta(hours=8))
    first = {"start": dt.datetime(2026, 12, 1, 19, 0, tzinfo=cn), "end": dt.datetime(2026, 12, 1, 20, 30, tzinfo=cn)}
    windows = domain.occurrences(first, "RRULE:FREQ=WEEKLY;COUNT=8")
    assert len(windows) == 8
    assert [w["start"].astimezone(cn).date().isoformat() for w in windows[:3]] == [
        "2026-12-01",
        "2026-12-08",
        "2026-12-15",
    ]
    assert all(
        w["start"].astimezone(cn).hour == 19 and w["end"] - w["start"] == dt.timedelta(minutes=90) for w in windows
    )


@pytest.mark.parametrize(
    "rule, says",
    [("FREQ=WEEKLY", "次数"), ("FREQ=DAILY;COUNT=60", "最多 52 次"), ("FREQ=SOMETIMES;COUNT=2", "写得不对")],
)
def test_a_series_must_end_stay_small_and_be_well_written(rule, says):
    cn = dt.timezone(dt.timedelta(hours=8))
    first = {"start": dt.datetime(2026, 12, 1, 19, 0, tzinfo=cn), "end": dt.datetime(2026, 12, 1, 20, 0, tzinfo=cn)}
    with pytest.raises(ValueError) as err:
        domain.occurrences(first, rule)
    assert says in str(err.value)
