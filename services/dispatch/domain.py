"""Dispatch rules: who can serve an order, when, and what happens on accept, decline or expiry.

No I/O. The matcher here is simple and correct: it covers every skill the program needs with
distinct, available, unbooked volunteers, inside one of the order's windows, preferring the
members of a troupe that has the program in its repertoire.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

BUCKET_MINUTES = 15
SLOT_STEP = dt.timedelta(minutes=30)


def buckets(start: dt.datetime, end: dt.datetime) -> range:
    """The 15-minute buckets a slot covers: a volunteer holds each at most once (unique key)."""
    size = BUCKET_MINUTES * 60
    return range(int(start.timestamp() // size), math.ceil(end.timestamp() / size))


def candidate_slots(windows: list[dict], minutes: int) -> list[tuple[dt.datetime, dt.datetime]]:
    """Start times every 30 minutes inside each window, earliest first."""
    duration = dt.timedelta(minutes=minutes)
    slots = []
    for window in sorted(windows, key=lambda w: w["start"]):
        start = window["start"]
        while start + duration <= window["end"]:
            slots.append((start, start + duration))
            start += SLOT_STEP
    return sorted(set(slots))


def is_available(volunteer: dict, start: dt.datetime, end: dt.datetime) -> bool:
    return any(w["start"] <= start and end <= w["end"] for w in volunteer.get("availability") or [])


@dataclass
class Crew:
    troupe_id: str | None
    start: dt.datetime
    end: dt.datetime
    chosen: list[tuple[str, str]]  # (volunteer_id, skill), in rank order per skill
    reserves: dict[str, list[str]]  # skill -> volunteer ids ranked after the chosen


@dataclass
class NoCrew:
    missing: dict[str, int] = field(default_factory=dict)

    def reason(self) -> str:
        if not self.missing:
            return "在可选时间段内没有可安排的时间。"
        parts = "，".join(f"{skill} {n} 人" for skill, n in sorted(self.missing.items()))
        return f"在可选时间段内凑不齐人员：缺少 {parts}。"


def rank(candidates: list[dict], troupe: dict | None, district: str, load: dict[str, float]) -> list[dict]:
    members = set(troupe["members"]) if troupe else set()
    return sorted(
        candidates,
        key=lambda v: (
            v["volunteer_id"] not in members,
            v.get("district") != district,
            load.get(v["volunteer_id"], 0.0),
            v["volunteer_id"],
        ),
    )


def cover(needs: list[dict], ranked: dict[str, list[dict]]) -> tuple[list[tuple[str, str]], dict[str, int]]:
    """Pick distinct volunteers for every need, scarcest skill first; returns (chosen, missing)."""
    taken: set[str] = set()
    chosen: list[tuple[str, str]] = []
    missing: dict[str, int] = {}
    for need in sorted(needs, key=lambda n: (len(ranked.get(n["skill"], [])) - n["count"], n["skill"])):
        picked = [v["volunteer_id"] for v in ranked.get(need["skill"], []) if v["volunteer_id"] not in taken]
        picked = picked[: need["count"]]
        taken.update(picked)
        chosen.extend((vid, need["skill"]) for vid in picked)
        if len(picked) < need["count"]:
            missing[need["skill"]] = need["count"] - len(picked)
    return chosen, missing


def plan_crew(
    order: dict,
    program: dict,
    troupes: list[dict],
    volunteers: list[dict],
    is_busy,
    load: dict[str, float] | None = None,
) -> Crew | NoCrew:
    """The first (troupe, slot) whose needs can all be covered, or what was missing at best.

    ``is_busy(volunteer_id, start, end)`` says whether the volunteer already holds a booking.
    """
    load = load or {}
    district = order["district"]
    ordered_troupes = sorted(troupes, key=lambda t: (t.get("district") != district, t["name"], t["troupe_id"]))
    best = NoCrew()
    best_short = math.inf
    skills = {n["skill"] for n in program["needs"]}
    for start, end in candidate_slots(order["windows"], program["duration_minutes"]):
        free = [
            v
            for v in volunteers
            if skills & set(v.get("skills") or [])
            and is_available(v, start, end)
            and not is_busy(v["volunteer_id"], start, end)
        ]
        for troupe in ordered_troupes or [None]:
            ranked = {
                s: rank([v for v in free if s in (v.get("skills") or [])], troupe, district, load) for s in skills
            }
            chosen, missing = cover(program["needs"], ranked)
            if not missing:
                chosen_ids = {vid for vid, _ in chosen}
                reserves = {
                    s: [v["volunteer_id"] for v in ranked[s] if v["volunteer_id"] not in chosen_ids] for s in skills
                }
                return Crew(troupe["troupe_id"] if troupe else None, start, end, chosen, reserves)
            short = sum(missing.values())
            if short < best_short:
                best, best_short = NoCrew(missing), short
    return best


def covered(needs: list[dict], accepted_skills: list[str]) -> bool:
    return all(accepted_skills.count(n["skill"]) >= n["count"] for n in needs)


def service_hours(attendance: dict | None, start: dt.datetime, end: dt.datetime) -> float:
    """Hours that count: check-in to check-out when both were recorded; the scheduled length
    when only the check-in was; none for a volunteer who never checked in (a no-show)."""
    if not attendance or not attendance.get("checked_in_at"):
        return 0.0
    began = attendance["checked_in_at"]
    ended = attendance.get("checked_out_at")
    if ended is None:
        return round((end - start).total_seconds() / 3600, 1)
    return round(max(0.0, (ended - began).total_seconds()) / 3600, 1)
