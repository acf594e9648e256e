"""Time as the palaces live it: China Standard Time (UTC+8 all year, no daylight saving), and
the ways people write a moment of it. Everything is stored in UTC (``now``); this is where a
moment becomes a palace's day and hour."""

from __future__ import annotations

import datetime as dt

from contracts.base import now

__all__ = ["CN", "now", "china", "china_day", "month_day_time", "date_words", "full_date_time"]

CN = dt.timezone(dt.timedelta(hours=8))
WEEKDAYS = "一二三四五六日"


def china(at: dt.datetime) -> dt.datetime:
    """The same moment on a palace's clock."""
    return at.astimezone(CN)


def china_day(at: dt.datetime) -> dt.date:
    """The palace's calendar day of a moment."""
    return at.astimezone(CN).date()


def month_day_time(at: dt.datetime, today: dt.date | None = None) -> str:
    """“12 月 8 日 13:00”; with the year in front when it is not ``today``'s year."""
    local = at.astimezone(CN)
    year, month, day, hm = local.year, local.month, local.day, local.strftime("%H:%M")
    if today is not None and year != today.year:
        return f"{year} 年 {month} 月 {day} 日 {hm}"
    return f"{month} 月 {day} 日 {hm}"


def date_words(day: dt.date) -> str:
    """“2026 年 12 月 8 日”."""
    year, month, date = day.year, day.month, day.day
    return f"{year} 年 {month} 月 {date} 日"


def full_date_time(start: dt.datetime, end: dt.datetime | None = None) -> str:
    """“2026 年 12 月 8 日（星期二）14:00—16:00”: a poster's or a certificate's way."""
    start = start.astimezone(CN)
    text = f"{start.year} 年 {start.month} 月 {start.day} 日（星期{WEEKDAYS[start.weekday()]}）{start:%H:%M}"
    if end is not None:
        end = end.astimezone(CN)
        text += f"—{end:%H:%M}" if end.date() == start.date() else f" 至 {end.month} 月 {end.day} 日 {end:%H:%M}"
    return text
