"""The time rules of an order, with the dates a clerk types: a palace books from min_lead_hours
ahead (48 by default; a dispatcher's urgent order skips it) to horizon_days ahead (365), and a
time window lasts at most a day. Now is 1 December 2026, 09:49 China time."""

import datetime as dt

import pytest

from common.errors import Invalid
from services.orders import domain

CN = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime(2026, 12, 1, 9, 49, 41, tzinfo=CN).astimezone(dt.UTC)
H = dt.timedelta(hours=1)
D = dt.timedelta(days=1)


def w(start, hours=3):
    return {"start": start, "end": start + hours * H}


def at(y, m, d, hh=9, mm=0):
    return dt.datetime(y, m, d, hh, mm, tzinfo=CN)


LEAD = "最早可约 12 月 3 日 09:50 之后（需提前 48 小时）。"
PAST = "这个时间已经过去了。"
LONG = "一个时间段不能超过 24 小时。"
ORDER = "结束时间应晚于开始时间。"
FAR = "最远只能约到一年内（2027 年 12 月 1 日前）。"


@pytest.mark.parametrize(
    "what, window, rules, problems",
    [
        ("yesterday", w(NOW - D), None, {"start": [PAST, LEAD]}),
        ("an hour from now", w(NOW + H), None, {"start": [LEAD]}),
        ("47 hours ahead", w(NOW + 47 * H), None, {"start": [LEAD]}),
        ("49 hours ahead", w(NOW + 49 * H), None, {}),
        ("exactly the lead time", w(NOW + 48 * H), None, {}),
        ("next week", w(at(2026, 12, 8, 14)), None, {}),
        ("an hour from now, urgent", w(NOW + H), {"urgent": True}, {}),
        ("yesterday, urgent", w(NOW - D), {"urgent": True}, {"start": [PAST]}),
        ("under way since a quarter of an hour, urgent", w(NOW - H / 4, 2), {"urgent": True}, {}),
        ("under way since a quarter of an hour, by the union", w(NOW - H / 4, 2), None, {"start": [PAST, LEAD]}),
        ("just over, urgent", w(NOW - 2 * H, 2), {"urgent": True}, {"start": [PAST]}),
        ("an hour from now, no lead time", w(NOW + H), {"min_lead_hours": 0}, {}),
        ("47 hours, lead 24", w(NOW + 47 * H), {"min_lead_hours": 24}, {}),
        ("end before start", {"start": NOW + 3 * D, "end": NOW + 3 * D - H}, None, {"end": [ORDER]}),
        ("end at start", {"start": NOW + 3 * D, "end": NOW + 3 * D}, None, {"end": [ORDER]}),
        ("a 30-hour window", w(NOW + 3 * D, 30), None, {"end": [LONG]}),
        ("a 24-hour window", w(NOW + 3 * D, 24), None, {}),
        ("next year, a day later", w(at(2027, 12, 2)), None, {"end": [FAR]}),
        ("next year, the day the year is over", w(at(2027, 12, 1)), None, {"end": [FAR]}),
        ("next year, the last day", w(at(2027, 11, 30, 20)), None, {}),
        ("ending at the horizon's midnight", {"start": at(2027, 11, 30, 21), "end": at(2027, 12, 1, 0)}, None, {}),
        ("next year, urgent still too far", w(at(2027, 12, 2)), {"urgent": True}, {"end": [FAR]}),
    ],
)
def test_a_window_is_refused_with_the_limit_it_broke(what, window, rules, problems):
    assert domain.window_problems(window, NOW, rules) == problems, what


@pytest.mark.parametrize(
    "rules, message",
    [
        ({"horizon_days": 90}, "最远只能约到90 天内（2027 年 3 月 1 日前）。"),
        ({"horizon_days": 365}, FAR),
    ],
)
def test_the_horizon_message_names_the_palace_horizon(rules, message):
    assert domain.window_problems(w(at(2028, 1, 5)), NOW, rules) == {"end": [message]}


def test_the_lead_message_names_the_year_when_the_earliest_day_is_in_the_next():
    late = dt.datetime(2026, 12, 30, 20, 0, tzinfo=CN)
    assert domain.lead_message(late, domain.time_rules({"min_lead_hours": 48})) == (
        "最早可约 2027 年 1 月 1 日 20:00 之后（需提前 48 小时）。"
    )


def test_the_windows_of_an_order_are_keyed_as_the_form_names_them():
    windows = [w(NOW + 5 * D), w(NOW + H), w(NOW + 5 * D, 30)]
    assert domain.windows_problems(windows, NOW) == {"windows.1.start": [LEAD], "windows.2.end": [LONG]}
    with pytest.raises(Invalid) as err:
        domain.check_windows(windows, NOW)
    assert set(err.value.fields) == {"windows.1.start", "windows.2.end"}
    domain.check_windows(windows[:1], NOW)  # nothing wrong: nothing raised


@pytest.mark.parametrize(
    "what, first, rule, problems",
    [
        ("weekly for eight weeks from next week", w(at(2026, 12, 8, 14)), "FREQ=WEEKLY;COUNT=8", {}),
        (
            "starting tomorrow",
            w(NOW + D),
            "FREQ=WEEKLY;COUNT=8",
            {"first_window.start": [LEAD]},
        ),
        (
            "weekly for 52 weeks from February: runs past the horizon",
            w(at(2027, 2, 2, 14)),
            "FREQ=WEEKLY;COUNT=52",
            {"rrule": ["第 45 次（2027 年 12 月 7 日）超出了预约范围。", FAR]},
        ),
        ("monthly for twelve months from next week", w(at(2026, 12, 8, 14)), "FREQ=MONTHLY;COUNT=12", {}),
        (
            "a 30-hour window every week",
            w(at(2026, 12, 8, 14), 30),
            "FREQ=WEEKLY;COUNT=4",
            {"first_window.end": [LONG]},
        ),
    ],
)
def test_a_series_keeps_the_lead_time_first_and_the_horizon_throughout(what, first, rule, problems):
    windows = domain.occurrences(first, rule)
    assert domain.series_problems(windows, NOW) == problems, what


def test_missing_rules_are_the_defaults():
    assert domain.time_rules(None) == {"min_lead_hours": 48, "horizon_days": 365, "urgent": False}
    assert domain.time_rules({"min_lead_hours": 0, "horizon_days": None}) == {
        "min_lead_hours": 0,
        "horizon_days": 365,
        "urgent": False,
    }
