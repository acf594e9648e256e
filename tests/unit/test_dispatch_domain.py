"""Dispatch rules, as they read."""

import datetime as dt

from services.dispatch import domain

CST = dt.timezone(dt.timedelta(hours=8))
DAY = dt.datetime(2026, 12, 5, tzinfo=CST)


def at(hour, minute=0):
    return DAY + dt.timedelta(hours=hour, minutes=minute)


def volunteer(vid, skill, district="海宁", free=((8, 21),)):
    return {
        "volunteer_id": vid,
        "skills": [skill],
        "district": district,
        "availability": [{"start": at(a), "end": at(b)} for a, b in free],
    }


PROGRAM = {
    "program_id": "song",
    "duration_minutes": 120,
    "needs": [{"skill": "声乐", "count": 1}, {"skill": "器乐", "count": 1}],
}
ORDER = {"order_id": "o1", "district": "海宁", "windows": [{"start": at(14), "end": at(18)}]}
TROUPE = {"troupe_id": "art", "name": "艺术团", "district": "海宁", "members": ["s1", "p1"]}
never_busy = lambda vid, start, end: False  # noqa: E731


def test_every_needed_skill_is_covered_by_distinct_volunteers():
    crew = domain.plan_crew(ORDER, PROGRAM, [TROUPE], [volunteer("s1", "声乐"), volunteer("p1", "器乐")], never_busy)
    assert isinstance(crew, domain.Crew)
    assert sorted(crew.chosen) == [("p1", "器乐"), ("s1", "声乐")]


def test_the_slot_lies_inside_a_window_and_the_volunteers_availability():
    late = volunteer("s1", "声乐", free=((16, 21),))
    crew = domain.plan_crew(ORDER, PROGRAM, [TROUPE], [late, volunteer("p1", "器乐")], never_busy)
    assert (crew.start, crew.end) == (at(16), at(18))
    assert domain.is_available(late, crew.start, crew.end)


def test_a_volunteer_cannot_hold_two_overlapping_offers():
    held = {("s1", b) for b in domain.buckets(at(13), at(17))}

    def busy(vid, start, end):
        return any((vid, b) in held for b in domain.buckets(start, end))

    order = {**ORDER, "windows": [{"start": at(14), "end": at(20)}]}
    crew = domain.plan_crew(order, PROGRAM, [TROUPE], [volunteer("s1", "声乐"), volunteer("p1", "器乐")], busy)
    assert crew.start == at(17)  # the first slot after s1's other booking ends
    assert not busy("s1", crew.start, crew.end)


def test_overlapping_slots_share_a_bucket_and_adjacent_ones_do_not():
    assert set(domain.buckets(at(14), at(16))) & set(domain.buckets(at(15, 45), at(17)))
    assert not set(domain.buckets(at(14), at(16))) & set(domain.buckets(at(16), at(18)))


def test_troupe_members_are_asked_first_and_the_others_wait_as_reserves():
    others = [volunteer("x1", "声乐", district="许村"), volunteer("x2", "声乐")]
    crew = domain.plan_crew(
        ORDER, PROGRAM, [TROUPE], [*others, volunteer("s1", "声乐"), volunteer("p1", "器乐")], never_busy
    )
    assert ("s1", "声乐") in crew.chosen
    assert crew.reserves["声乐"] == ["x2", "x1"]  # same district before farther away


def test_no_one_able_to_come_makes_the_order_unfulfillable_with_the_missing_skill():
    result = domain.plan_crew(ORDER, PROGRAM, [TROUPE], [volunteer("s1", "声乐")], never_busy)
    assert isinstance(result, domain.NoCrew)
    assert result.missing == {"器乐": 1}
    assert "器乐 1 人" in result.reason()


def test_a_window_too_short_for_the_program_offers_no_slot():
    assert domain.candidate_slots([{"start": at(14), "end": at(15)}], 120) == []
    assert domain.candidate_slots([{"start": at(14), "end": at(17)}], 120) == [
        (at(14), at(16)),
        (at(14, 30), at(16, 30)),
        (at(15), at(17)),
    ]


def test_the_order_is_scheduled_when_every_need_is_accepted():
    needs = [{"skill": "声乐", "count": 2}, {"skill": "器乐", "count": 1}]
    assert not domain.covered(needs, ["声乐", "器乐"])
    assert domain.covered(needs, ["声乐", "器乐", "声乐"])


def test_hours_count_from_check_in_to_check_out_and_a_no_show_gets_none():
    assert domain.service_hours({"checked_in_at": at(13, 45), "checked_out_at": at(16, 15)}, at(14), at(16)) == 2.5
    assert domain.service_hours({"checked_in_at": at(14), "checked_out_at": None}, at(14), at(16)) == 2.0
    assert domain.service_hours(None, at(14), at(16)) == 0.0
