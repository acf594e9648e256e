"""Survey rules, as they read."""

import datetime as dt

import pytest

from common.errors import Conflict
from services.feedback import domain

T0 = dt.datetime(2026, 12, 5, 8, 0, tzinfo=dt.timezone.utc)


def a_survey(**over):
    return domain.new_survey("s1", {"order_id": "o1", "palace_id": "p1", "completed_at": T0}, T0, 72) | over


def test_satisfaction_is_the_mean_of_overall_ratings():
    assert domain.summarise([{"overall": 5}, {"overall": 4}, {"overall": 4}])["satisfaction"] == 4.33


def test_aspects_ignore_those_who_did_not_answer_them():
    s = domain.summarise([{"overall": 5, "content": 4}, {"overall": 3, "content": None, "performers": 5}])
    assert s["aspects"] == {"content": 4.0, "performers": 5.0, "organisation": None}


def test_no_responses_means_no_satisfaction_rather_than_zero():
    assert domain.summarise([])["satisfaction"] is None


def test_wanted_programs_are_counted_case_insensitively_and_once_per_response():
    s = domain.summarise(
        [
            {"overall": 5, "wanted_programs": ["八段锦", " 八段锦 ", "Film"]},
            {"overall": 4, "wanted_programs": ["film", "书法"]},
        ]
    )
    assert s["wanted_programs"][:2] == [{"program": "film", "count": 2}, {"program": "八段锦", "count": 1}] or s[
        "wanted_programs"
    ][0] == {"program": "film", "count": 2}
    assert {"program": "书法", "count": 1} in s["wanted_programs"]


def test_a_survey_closes_after_its_window():
    survey = a_survey()
    assert survey["closes_at"] == T0 + dt.timedelta(hours=72)
    domain.check_open(survey, T0 + dt.timedelta(hours=71))
    with pytest.raises(Conflict) as err:
        domain.check_open(survey, T0 + dt.timedelta(hours=72))
    assert err.value.code == "SURVEY_CLOSED"


def test_a_closed_survey_refuses_responses():
    with pytest.raises(Conflict):
        domain.check_open(a_survey(status="closed"), T0)


def test_tokens_are_unguessable():
    tokens = {domain.new_token() for _ in range(1000)}
    assert len(tokens) == 1000
    assert all(len(t) == 32 for t in tokens)  # 24 random bytes = 192 bits


def test_wanted_programs_cannot_inject_field_paths():
    inc = domain.increments({"overall": 5, "wanted_programs": ["a.b", "$set", "\x00", "  "]})
    assert set(inc) == {"count", "sum_overall", "wanted.a．b", "wanted.＄set"}


def test_a_scheduled_survey_has_its_token_and_takes_no_answers_until_the_delivery():
    start = T0 + dt.timedelta(days=3)
    event = {"order_id": "o1", "palace_id": "p1", "program_title": "书法进企业", "start": start, "end": start}
    survey = domain.scheduled_survey("s1", event)
    assert survey["status"] == "scheduled" and len(survey["token"]) == 32 and survey["starts_at"] == start
    assert survey["closes_at"] is None and domain.public_status(survey, T0) == "scheduled"
    with pytest.raises(Conflict) as err:
        domain.check_open(survey, T0)
    assert err.value.code == "SURVEY_NOT_OPEN" and "还没有开始" in err.value.message
    done = start + dt.timedelta(hours=2)
    opened = survey | domain.opening({"completed_at": done, "start": start, "end": done}, done, 72)
    assert opened["token"] == survey["token"] and opened["program_title"] == "书法进企业"
    assert opened["closes_at"] == done + dt.timedelta(hours=72) and domain.public_status(opened, done) == "open"
    domain.check_open(opened, done)
