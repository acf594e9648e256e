"""Time as the palaces live it: China Standard Time (UTC+8 all year, no daylight saving), and
the ways people write a moment of it. Everything is stored in UTC (``now``); this is where a
moment becomes a palace's day and hour."""

from __future__ import annotations

import datetime as dt

from common.messages import Message
from contracts.base import now

__all__ = ["CN", "now", "china", "china_day", "month_day_time", "date_words"]

CN = dt.timezone(dt.timedelta(hours=8))


def china(at: dt.datetime) -> dt.datetime:
    """The same moment on a palace's clock."""
    return at.astimezone(CN)


def china_day(at: dt.datetime) -> dt.date:
    """The palace's calendar day of a moment."""
    return at.astimezone(CN).date()


def month_day_time(at: dt.datetime, today: dt.date | None = None) -> Message:
    """“12 月 8 日 13:00”; with the year in front when it is not ``today``'s year. A message:
    read as text it is the Chinese, and the gateway says it in the reader's language."""
    local = at.astimezone(CN)
    month, day, hm = local.month, local.day, local.strftime("%H:%M")
    if today is not None and local.year != today.year:
        return Message("{year} 年 {month} 月 {day} 日 {hm}", year=local.year, month=month, day=day, hm=hm)
    return Message("{month} 月 {day} 日 {hm}", month=month, day=day, hm=hm)


def date_words(day: dt.date) -> Message:
    """“2026 年 12 月 8 日”, as a message."""
    return Message("{year} 年 {month} 月 {date} 日", year=day.year, month=day.month, date=day.day)
