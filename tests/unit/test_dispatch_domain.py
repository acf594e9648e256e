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


# ---------------------------------------------------------------- the day of the delivery
# (DAY is 2026-12-05 in China time; the slot is 14:00–16:00)


def test_completion_before_the_slot_has_started_is_refused_with_the_start_time():
    crew, present = ["s1", "p1"], {"s1": {"checked_in_at": at(13, 50)}}
    for when in (at(14) - dt.timedelta(days=7), at(13, 59)):
        try:
            domain.completion_allowed(at(14), when, present, crew, None)
        except domain.DayError as err:
            assert err.code == "NOT_STARTED" and err.field is None
            assert err.message == "服务 12 月 5 日 14:00 才开始，开始后才能记录服务完成。"
        else:
            raise AssertionError("completion before the start was allowed")
    domain.completion_allowed(at(14), at(14), present, crew, None)  # at the start: allowed


def test_completion_with_nobody_checked_in_needs_a_reason():
    crew = ["s1", "p1"]
    for reason in (None, "", "  "):
        try:
            domain.completion_allowed(at(14), at(16), {}, crew, reason)
        except domain.DayError as err:
            assert (err.code, err.field) == ("REASON_REQUIRED", "reason")
            assert err.message == "没有志愿者签到，请说明原因（例如：现场代签未登记）。"
        else:
            raise AssertionError("completion with nobody checked in and no reason was allowed")
    domain.completion_allowed(at(14), at(16), {}, crew, "现场代签未登记")
    # someone not on the crew (a replaced volunteer's old record) does not count as present
    try:
        domain.completion_allowed(at(14), at(16), {"x9": {"checked_in_at": at(14)}}, crew, None)
    except domain.DayError as err:
        assert err.code == "REASON_REQUIRED"
    else:
        raise AssertionError("a stranger's check-in counted")


def test_check_in_opens_an_hour_before_the_start_and_says_when():
    assert domain.check_in_opens_at(at(14)) == at(13)
    domain.check_in_allowed(at(14), at(13))
    domain.check_in_allowed(at(14), at(18))
    try:
        domain.check_in_allowed(at(14), at(12, 59))
    except domain.DayError as err:
        assert err.code == "CHECK_IN_NOT_OPEN" and err.message == "签到将于 12 月 5 日 13:00 开放。"
    else:
        raise AssertionError("check-in before it opens was allowed")


def test_hours_come_with_the_reason_they_fall_short():
    slot = (at(14), at(16))
    ten_seconds = {"checked_in_at": at(14, 5), "checked_out_at": at(14, 5) + dt.timedelta(seconds=10)}
    assert domain.counted_hours(ten_seconds, *slot, "attended", 0.5) == (0.0, "short")
    assert domain.hours_reason_text("short", 0.5) == "出勤不足 50%，未计时长"
    # with no minimum share, ten seconds still round to nothing, and it says so
    assert domain.counted_hours(ten_seconds, *slot, "attended", 0.0) == (0.0, "too_short")
    full = {"checked_in_at": at(14), "checked_out_at": at(16)}
    assert domain.counted_hours(full, *slot, "attended", 0.5) == (2.0, None)
    assert domain.counted_hours(full, *slot, "scheduled", 0.5) == (2.0, None)
    assert domain.counted_hours({"checked_in_at": at(14)}, *slot) == (2.0, "no_check_out")
    assert domain.counted_hours(None, *slot) == (0.0, "not_checked_in")
    assert domain.hours_reason_text("not_checked_in") == "未签到"
    assert domain.hours_reason_text("no_check_out") == "未签退，时长计到服务结束"
    assert domain.hours_reason_text(None) is None


def test_a_volunteers_hours_list_carries_the_reasons_and_marks_granted_hours():
    plan = {"order_id": "o1", "start": at(14), "end": at(16), "program_title": "劳动者之歌"}
    short = domain.hours_row("s1", {"checked_in_at": at(14), "checked_out_at": at(14, 1)}, plan, {}, 1.5)
    assert (short["hours"], short["hours_reason"], short["hours_reason_text"]) == (
        0.0,
        "short",
        "出勤不足 50%，未计时长",
    )
    summary = domain.hours_summary("s1", [{**plan, "hours": [short]}], at(17))
    (item,) = summary["items"]
    assert item["hours_reason"] == "short" and item["granted_hours"] == 1.5
    assert (item["granted_reason"], item["granted_reason_text"]) == ("granted", "调度员补记")
    assert summary["all"] == 1.5
