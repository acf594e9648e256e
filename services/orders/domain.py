"""The order and its state machine: submitted → accepted | rejected → scheduled → delivered
→ closed, or cancelled before delivery. No I/O here."""

from __future__ import annotations

import datetime as dt

from common.clock import CN, date_words, month_day_time
from common.errors import N_, Conflict, Invalid, Message

STATUS_LABELS = {
    "submitted": N_("已提交"),
    "accepted": N_("已受理"),
    "rejected": N_("已拒绝"),
    "scheduled": N_("已排期"),
    "unfulfillable": N_("无法安排"),
    "delivered": N_("已服务"),
    "closed": N_("已完结"),
    "cancelled": N_("已取消"),
}


def status_label(status: str) -> Message:
    """An order status as people read it (a message, said in the reader's language)."""
    return Message(STATUS_LABELS[status])


TRANSITIONS: dict[str, frozenset[str]] = {
    "submitted": frozenset({"accepted", "rejected", "cancelled"}),
    "accepted": frozenset({"scheduled", "unfulfillable", "cancelled"}),
    # a dispatcher may try again after adding people or time; or the union gives up
    "unfulfillable": frozenset({"accepted", "cancelled"}),
    "scheduled": frozenset({"delivered", "cancelled"}),
    "delivered": frozenset({"closed"}),
    "rejected": frozenset(),
    "closed": frozenset(),
    "cancelled": frozenset(),
}

AMENDABLE = frozenset({"submitted", "accepted", "unfulfillable"})


def illegal(
    message: str, code: str = "ILLEGAL_TRANSITION", fields: dict | None = None, params: dict | None = None
) -> Conflict:
    """A refused change of status; `message` is a template, as for every error."""
    return Conflict(message, code, fields, params)


def can_move(current: str, target: str) -> bool:
    return target in TRANSITIONS.get(current, frozenset())


def move(order: dict, target: str, at: dt.datetime, reason: str | None = None) -> dict:
    """Return the order in its new status, or raise IllegalTransition and change nothing."""
    current = order["status"]
    if not can_move(current, target):
        raise illegal(
            "订单当前状态为「{current}」，不能变为「{target}」。",
            fields={"status": [current]},
            params={"current": status_label(current), "target": status_label(target)},
        )
    return {
        **order,
        "status": target,
        "updated_at": at,
        "history": [*order["history"], {"status": target, "at": at, "reason": reason}],
    }


def new_order(
    order_id: str,
    data: dict,
    program_title: str | None,
    at: dt.datetime,
    urgent: bool = False,
    placed_by: dict | None = None,
) -> dict:
    """`urgent`: placed by the palace within the lead time; `placed_by`: who placed it
    ({"username", "role"}), a dispatcher or an admin when the palace ordered for the union."""
    return {
        "order_id": order_id,
        "enterprise_id": data["enterprise_id"],
        "enterprise_name": data.get("enterprise_name"),
        "palace_id": data["palace_id"],
        "program_id": data.get("program_id"),
        "program_title": program_title,
        "custom_request": data.get("custom_request"),
        "site_address": data["site_address"],
        "district": data["district"],
        "audience_size": data["audience_size"],
        "windows": sorted(data["windows"], key=lambda w: w["start"]),
        "contact_name": data["contact_name"],
        "contact_phone": data["contact_phone"],
        "note": data.get("note"),
        "client_ref": data.get("client_ref"),
        "series_id": data.get("series_id"),
        "urgent": bool(urgent),
        "placed_by": dict(placed_by) if placed_by else None,
        "status": "submitted",
        "history": [{"status": "submitted", "at": at, "reason": None}],
        "scheduled_start": None,
        "scheduled_end": None,
        "troupe_id": None,
        "people_served": None,
        "satisfaction": None,
        "responses": None,
        "delivery_confirmed_at": None,
        "created_at": at,
        "updated_at": at,
    }


def placed_by_palace(order: dict) -> bool:
    """Placed for the union by its palace (a dispatcher or an admin)."""
    return (order.get("placed_by") or {}).get("role") in ("dispatcher", "admin")


def amend(order: dict, changes: dict, at: dt.datetime, program_title: str | None = None) -> tuple[dict, list[str]]:
    """Apply an amendment allowed before scheduling; returns the order and the changed fields."""
    if order["status"] not in AMENDABLE:
        raise illegal(
            "订单状态为「{status}」，排期后不能再修改；如需变更请取消后重新下单。",
            "NOT_AMENDABLE",
            params={"status": status_label(order["status"])},
        )
    changed = sorted(k for k, v in changes.items() if order.get(k) != v)
    updated = {**order, **changes, "updated_at": at}
    if "windows" in changes:
        updated["windows"] = sorted(changes["windows"], key=lambda w: w["start"])
    if "program_id" in changes:
        updated["program_title"] = program_title
    if not (updated.get("program_id") or updated.get("custom_request")):
        raise Invalid(
            "请选择一个节目，或填写自定义需求。", fields={"program_id": [N_("请选择一个节目，或填写自定义需求。")]}
        )
    return updated, changed


def snapshot(order: dict) -> dict:
    """The part of an order that other services plan with (goes into events)."""
    return {
        "order_id": order["order_id"],
        "palace_id": order["palace_id"],
        "enterprise_id": order["enterprise_id"],
        "program_id": order.get("program_id"),
        "program_title": order.get("program_title"),
        "custom_request": order.get("custom_request"),
        "site_address": order["site_address"],
        "district": order["district"],
        "audience_size": order["audience_size"],
        "windows": order["windows"],
    }


MAX_OCCURRENCES = 52


def occurrences(first: dict, rule: str) -> list[dict]:
    """The time windows of a recurring order: the first window repeated by an iCalendar RRULE
    (read in China time, so "every Tuesday 9:00" stays 9:00). The series must end (COUNT or
    UNTIL) within 52 occurrences."""
    from dateutil import rrule as rr

    text = rule.strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    parts = {p.split("=", 1)[0].upper() for p in text.split(";") if "=" in p}
    if "COUNT" not in parts and "UNTIL" not in parts:
        raise ValueError(Message("重复规则需要写明次数（COUNT）或截止日期（UNTIL）。"))
    start = first["start"].astimezone(CN)
    length = first["end"] - first["start"]
    try:
        rule_obj = rr.rrulestr(text, dtstart=start.replace(tzinfo=None), ignoretz=True)
    except (ValueError, TypeError) as err:
        raise ValueError(Message("重复规则写得不对：{err}", err=str(err))) from None
    out = []
    for at in rule_obj:
        if len(out) == MAX_OCCURRENCES:
            raise ValueError(Message("一个系列最多 {n} 次。", n=MAX_OCCURRENCES))
        begin = at.replace(tzinfo=CN)
        out.append({"start": begin.astimezone(dt.UTC), "end": begin.astimezone(dt.UTC) + length})
    if not out:
        raise ValueError(Message("按这个重复规则排不出任何一次。"))
    return out


# -------------------------------------------------------------- time rules a clerk will break

MIN_LEAD_HOURS = 48  # a palace needs this long to find a crew
HORIZON_DAYS = 365  # and books no further ahead than this
MAX_WINDOW_HOURS = 24  # a time window is a stretch of one day, not a season


def time_rules(rules: dict | None = None) -> dict:
    """A palace's booking rules with the defaults filled in; `urgent` (a dispatcher's order)
    skips the lead time, and may start a window already under way, and nothing else."""
    rules = rules or {}
    lead = rules.get("min_lead_hours")
    horizon = rules.get("horizon_days")
    return {
        "min_lead_hours": MIN_LEAD_HOURS if lead is None else lead,
        "horizon_days": HORIZON_DAYS if horizon is None else horizon,
        "urgent": bool(rules.get("urgent")),
    }


_when = month_day_time
_date = date_words


def earliest_start(at: dt.datetime, rules: dict) -> dt.datetime:
    return at + dt.timedelta(hours=rules["min_lead_hours"])


def horizon_limit(at: dt.datetime, rules: dict) -> tuple[dt.datetime, dt.date]:
    """Windows end before the China-time midnight that starts the day `horizon_days` from today."""
    day = at.astimezone(CN).date() + dt.timedelta(days=rules["horizon_days"])
    return dt.datetime.combine(day, dt.time(0), CN), day


def lead_message(at: dt.datetime, rules: dict) -> Message:
    earliest = earliest_start(at, rules)
    if earliest.second or earliest.microsecond:
        earliest = earliest.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    when = _when(earliest, at.astimezone(CN).date())
    return Message("最早可约 {when} 之后（需提前 {lead} 小时）。", when=when, lead=rules["min_lead_hours"])


def horizon_message(at: dt.datetime, rules: dict) -> Message:
    days = rules["horizon_days"]
    span = Message("一年") if days == 365 else Message("{days} 天", days=days)
    limit = _date(horizon_limit(at, rules)[1])
    return Message("最远只能约到{span}内（{limit}前）。", span=span, limit=limit)


def window_problems(window: dict, at: dt.datetime, rules: dict | None = None, *, lead: bool = True) -> dict:
    """What is wrong with one time window placed at `at`: {"start": [...], "end": [...]}, empty
    when nothing is. `lead=False` leaves out the start's checks (later occurrences of a series)."""
    rules = time_rules(rules)
    start, end = window["start"], window["end"]
    out: dict[str, list[Message]] = {}
    if lead:
        # a dispatcher may record an urgent delivery already under way (现场加急, entered on the
        # day); a window that is over is refused to everyone
        under_way = rules["urgent"] and start < at < end
        if start < at and not under_way:
            out.setdefault("start", []).append(Message("这个时间已经过去了。"))
        if not rules["urgent"] and rules["min_lead_hours"] > 0 and start < earliest_start(at, rules):
            out.setdefault("start", []).append(lead_message(at, rules))
    if end <= start:
        out.setdefault("end", []).append(Message("结束时间应晚于开始时间。"))
    elif end - start > dt.timedelta(hours=MAX_WINDOW_HOURS):
        out.setdefault("end", []).append(Message("一个时间段不能超过 {hours} 小时。", hours=MAX_WINDOW_HOURS))
    if end > horizon_limit(at, rules)[0]:
        out.setdefault("end", []).append(horizon_message(at, rules))
    return out


def windows_problems(windows: list[dict], at: dt.datetime, rules: dict | None = None) -> dict:
    """Field messages for an order's windows, keyed as the form names them: {"windows.0.start": [...]}."""
    out = {}
    for n, window in enumerate(windows):
        for key, messages in window_problems(window, at, rules).items():
            out[f"windows.{n}.{key}"] = messages
    return out


def series_problems(windows: list[dict], at: dt.datetime, rules: dict | None = None) -> dict:
    """A series: the first occurrence keeps every rule (its messages go to first_window), each
    later one must end within the horizon (the first that does not is named on rrule)."""
    out = {f"first_window.{k}": v for k, v in window_problems(windows[0], at, rules).items()}
    limit, _ = horizon_limit(at, time_rules(rules))
    for n, window in enumerate(windows[1:], 2):
        if window["end"] > limit and "first_window.end" not in out:
            day = _date(window["start"].astimezone(CN).date())
            out["rrule"] = [
                Message("第 {n} 次（{day}）超出了预约范围。", n=n, day=day),
                horizon_message(at, time_rules(rules)),
            ]
            break
    return out


def check_windows(windows: list[dict], at: dt.datetime, rules: dict | None = None, series: bool = False) -> None:
    """Raise Invalid with the field messages when a window breaks the palace's time rules."""
    problems = series_problems(windows, at, rules) if series else windows_problems(windows, at, rules)
    if problems:
        raise Invalid("提交的内容有误，请检查标出的字段。", fields=problems)
