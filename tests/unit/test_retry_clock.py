"""The one retry helper and the one China clock, without I/O."""

import datetime as dt

import pytest

from common.clock import CN, china_day, date_words, month_day_time
from common.retry import retrying


class Flaky:
    def __init__(self, fails: int, error: type[Exception] = KeyError):
        self.fails, self.error, self.calls = fails, error, 0

    def __call__(self, value):
        self.calls += 1
        if self.calls <= self.fails:
            raise self.error(f"try {self.calls}")
        return value


def test_retried_until_it_works():
    flaky = Flaky(2)
    said = []
    assert retrying(KeyError, attempts=3, before_again=lambda e, n: said.append(n))(flaky, "ok") == "ok"
    assert flaky.calls == 3 and said == [1, 2]


def test_the_last_error_is_raised_as_itself_when_tries_are_spent():
    flaky = Flaky(5)
    with pytest.raises(KeyError, match="try 3"):
        retrying(KeyError, attempts=3)(flaky, "ok")
    assert flaky.calls == 3


def test_other_errors_and_excluded_ones_are_not_retried():
    flaky = Flaky(1, ValueError)
    with pytest.raises(ValueError):
        retrying(KeyError, attempts=3)(flaky, "ok")
    assert flaky.calls == 1

    class Refused(KeyError):
        pass

    refused = Flaky(1, Refused)
    with pytest.raises(Refused):
        retrying(KeyError, attempts=3, unless=(Refused,))(refused, "ok")
    assert refused.calls == 1


def test_waits_double(monkeypatch):
    slept = []
    monkeypatch.setattr("tenacity.nap.time.sleep", slept.append)
    flaky = Flaky(3)
    retrying(KeyError, attempts=4, wait=0.2, doubling=True)(flaky, "ok")
    assert slept == pytest.approx([0.2, 0.4, 0.8])


def test_without_end_while_running():
    running = [True]
    flaky = Flaky(100)

    def stop_after_two(err, tries):
        if tries == 2:
            running[0] = False

    with pytest.raises(KeyError):
        retrying(KeyError, attempts=None, while_=lambda: running[0], before_again=stop_after_two)(flaky, "ok")
    assert flaky.calls == 3


def test_china_time_is_utc_plus_eight_all_year():
    late_utc = dt.datetime(2026, 12, 31, 17, 30, tzinfo=dt.timezone.utc)
    assert china_day(late_utc) == dt.date(2027, 1, 1)
    assert late_utc.astimezone(CN).utcoffset() == dt.timedelta(hours=8)
    summer = dt.datetime(2026, 7, 1, 0, 0, tzinfo=dt.timezone.utc)
    assert summer.astimezone(CN).hour == 8


def test_ways_of_writing_a_moment():
    at = dt.datetime(2026, 12, 8, 6, 0, tzinfo=dt.timezone.utc)  # 14:00 in China
    assert month_day_time(at) == "12 月 8 日 14:00"
    assert month_day_time(at, dt.date(2026, 12, 1)) == "12 月 8 日 14:00"
    assert month_day_time(at, dt.date(2027, 1, 2)) == "2026 年 12 月 8 日 14:00"
    assert date_words(dt.date(2026, 12, 8)) == "2026 年 12 月 8 日"
    assert month_day_time(at).template == "{month} 月 {day} 日 {hm}"  # said in the reader's language
