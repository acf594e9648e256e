"""Dispatch rules besides the planner (planner.py): time buckets, a complete crew, service hours.

No I/O.
"""

from __future__ import annotations

import datetime as dt
import math
import secrets

BUCKET_MINUTES = 15
CN = dt.timezone(dt.timedelta(hours=8))


def buckets(start: dt.datetime, end: dt.datetime) -> range:
    """The 15-minute buckets a slot covers: a volunteer holds each at most once (unique key)."""
    size = BUCKET_MINUTES * 60
    return range(int(start.timestamp() // size), math.ceil(end.timestamp() / size))


def sign_in_code() -> str:
    """Six digits the enterprise union shows on site; a volunteer types them to check in."""
    return f"{secrets.randbelow(1_000_000):06d}"


def covered(needs: list[dict], accepted_skills: list[str]) -> bool:
    return all(accepted_skills.count(n["skill"]) >= n["count"] for n in needs)


def service_hours(
    attendance: dict | None,
    start: dt.datetime,
    end: dt.datetime,
    basis: str = "attended",
    min_share: float = 0.0,
) -> float:
    """Hours that count, by the palace's rules.

    Nobody who never checked in (a no-show) gets hours. A check-in without a check-out counts
    until the scheduled end. Unless the volunteer was there for at least ``min_share`` of the
    scheduled slot, nothing counts. Then "attended" counts check-in to check-out, set-up time
    included; "scheduled" counts the slot's length."""
    if not attendance or not attendance.get("checked_in_at"):
        return 0.0
    began = attendance["checked_in_at"]
    ended = attendance.get("checked_out_at") or max(end, began)
    slot = (end - start).total_seconds()
    inside = max(0.0, (min(ended, end) - max(began, start)).total_seconds())
    if slot > 0 and inside / slot + 1e-9 < min_share:
        return 0.0
    if basis == "scheduled":
        return round(slot / 3600, 1)
    return round(max(0.0, (ended - began).total_seconds()) / 3600, 1)


def hours_summary(volunteer_id: str, plans: list[dict], at: dt.datetime) -> dict:
    """A volunteer's hours per delivery and in total (this month and year in China time)."""
    local = at.astimezone(CN)
    items = []
    totals = {"month": 0.0, "year": 0.0, "all": 0.0, "granted": 0.0, "deliveries": 0}
    for plan in plans:
        row = next((h for h in plan.get("hours") or [] if h["volunteer_id"] == volunteer_id), None)
        if row is None:
            continue
        counted, granted = float(row.get("hours") or 0), float(row.get("granted_hours") or 0)
        total = counted + granted
        start = plan["start"].astimezone(CN)
        items.append(
            {
                "order_id": plan["order_id"],
                "program_title": plan.get("program_title"),
                "start": plan["start"],
                "end": plan["end"],
                "hours": round(counted, 1),
                "granted_hours": round(granted, 1),
            }
        )
        totals["all"] += total
        totals["granted"] += granted
        totals["deliveries"] += 1
        if start.year == local.year:
            totals["year"] += total
            if start.month == local.month:
                totals["month"] += total
    return {"volunteer_id": volunteer_id, "items": items, **{k: round(v, 1) for k, v in totals.items()}}
