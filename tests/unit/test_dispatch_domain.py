"""Dispatch rules, as they read."""

import datetime as dt

from services.dispatch import domain

CST = dt.timezone(dt.timedelta(hours=8))
DAY = dt.datetime(2026, 12, 5, tzinfo=CST)


def at(hour, minute=0):
    return DAY + dt.timedelta(hours=hour, minutes=minute)


def test_overlapping_slots_share_a_bucket_and_adjacent_ones_do_not():
    assert set(domain.buckets(at(14), at(16))) & set(domain.buckets(at(15, 45), at(17)))
    assert not set(domain.buckets(at(14), at(16))) & set(domain.buckets(at(16), at(18)))


def test_the_order_is_scheduled_when_every_need_is_accepted():
    needs = [{"skill": "声乐", "count": 2}, {"skill": "器乐", "count": 1}]
    assert not domain.covered(needs, ["声乐", "器乐"])
    assert domain.covered(needs, ["声乐", "器乐", "声乐"])


def test_hours_count_from_check_in_to_check_out_and_a_no_show_gets_none():
    assert domain.service_hours({"checked_in_at": at(13, 45), "checked_out_at": at(16, 15)}, at(14), at(16)) == 2.5
    assert domain.service_hours({"checked_in_at": at(14), "checked_out_at": None}, at(14), at(16)) == 2.0
    assert domain.service_hours(None, at(14), at(16)) == 0.0


def test_hours_follow_the_palace_rules_attendance_share_and_basis():
    # there for 30 of 120 minutes: under half, nothing counts
    assert (
        domain.service_hours({"checked_in_at": at(15, 30), "checked_out_at": at(16)}, at(14), at(16), "attended", 0.5)
        == 0.0
    )
    # there for the whole slot: "scheduled" counts the slot, "attended" the time there
    full = {"checked_in_at": at(13, 30), "checked_out_at": at(16, 30)}
    assert domain.service_hours(full, at(14), at(16), "scheduled", 0.5) == 2.0
    assert domain.service_hours(full, at(14), at(16), "attended", 0.5) == 3.0
