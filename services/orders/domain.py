"""The order and its state machine: submitted → accepted | rejected → scheduled → delivered
→ closed, or cancelled before delivery. No I/O here."""

from __future__ import annotations

import datetime as dt

from common.errors import Conflict

CN = dt.timezone(dt.timedelta(hours=8))

STATUS_LABELS = {
    "submitted": "已提交",
    "accepted": "已受理",
    "rejected": "已拒绝",
    "scheduled": "已排期",
    "unfulfillable": "无法安排",
    "delivered": "已服务",
    "closed": "已完结",
    "cancelled": "已取消",
}

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


def illegal(message: str, code: str = "ILLEGAL_TRANSITION", fields: dict | None = None) -> Conflict:
    return Conflict(message, code, fields)


def can_move(current: str, target: str) -> bool:
    return target in TRANSITIONS.get(current, frozenset())


def move(order: dict, target: str, at: dt.datetime, reason: str | None = None) -> dict:
    """Return the order in its new status, or raise IllegalTransition and change nothing."""
    current = order["status"]
    if not can_move(current, target):
        raise illegal(
            f"订单当前状态为「{STATUS_LABELS[current]}」，不能变为「{STATUS_LABELS[target]}」。",
            fields={"status": [current]},
        )
    return {
        **order,
        "status": target,
        "updated_at": at,
        "history": [*order["history"], {"status": target, "at": at, "reason": reason}],
    }


def new_order(order_id: str, data: dict, program_title: str | None, at: dt.datetime) -> dict:
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


def amend(order: dict, changes: dict, at: dt.datetime, program_title: str | None = None) -> tuple[dict, list[str]]:
    """Apply an amendment allowed before scheduling; returns the order and the changed fields."""
    if order["status"] not in AMENDABLE:
        raise illegal(
            f"订单状态为「{STATUS_LABELS[order['status']]}」，排期后不能再修改；如需变更请取消后重新下单。",
            "NOT_AMENDABLE",
        )
    changed = sorted(k for k, v in changes.items() if order.get(k) != v)
    updated = {**order, **changes, "updated_at": at}
    if "windows" in changes:
        updated["windows"] = sorted(changes["windows"], key=lambda w: w["start"])
    if "program_id" in changes:
        updated["program_title"] = program_title
    if not (updated.get("program_id") or updated.get("custom_request")):
        from common.errors import Invalid

        raise Invalid(
            "请选择一个节目，或填写自定义需求。", fields={"program_id": ["请选择一个节目，或填写自定义需求。"]}
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
        raise ValueError("重复规则需要写明次数（COUNT）或截止日期（UNTIL）。")
    start = first["start"].astimezone(CN)
    length = first["end"] - first["start"]
    try:
        rule_obj = rr.rrulestr(text, dtstart=start.replace(tzinfo=None), ignoretz=True)
    except (ValueError, TypeError) as err:
        raise ValueError(f"重复规则写得不对：{err}") from None
    out = []
    for at in rule_obj:
        if len(out) == MAX_OCCURRENCES:
            raise ValueError(f"一个系列最多 {MAX_OCCURRENCES} 次。")
        begin = at.replace(tzinfo=CN)
        out.append({"start": begin.astimezone(dt.UTC), "end": begin.astimezone(dt.UTC) + length})
    if not out:
        raise ValueError("按这个重复规则排不出任何一次。")
    return out
