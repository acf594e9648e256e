"""Dispatch rules besides the planner (planner.py): time buckets, a complete crew, service hours.

No I/O.
"""

from __future__ import annotations

import datetime as dt
import math
import secrets

from common.clock import CN, month_day_time
from common.config import DEFAULTS
from common.messages import N_, Message

BUCKET_MINUTES = 15


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
    """Hours that count, by the palace's rules (``counted_hours`` says why when they fall short)."""
    return counted_hours(attendance, start, end, basis, min_share)[0]


# why a volunteer's counted hours are what they are: a stable code (pages translate it) and the
# Chinese text; None when the hours are simply what was served
HOURS_REASONS = {
    "not_checked_in": "未签到",
    "short": "出勤不足 {share}%，未计时长",
    "no_check_out": "未签退，时长计到服务结束",
    "too_short": "不足 6 分钟，未计时长",
    "granted": "调度员补记",
}


def counted_hours(
    attendance: dict | None,
    start: dt.datetime,
    end: dt.datetime,
    basis: str = "attended",
    min_share: float = 0.0,
) -> tuple[float, str | None]:
    """Hours that count, by the palace's rules, and the reason code when they are not simply the
    time served.

    Nobody who never checked in (a no-show) gets hours ("not_checked_in"). A check-in without a
    check-out counts until the scheduled end ("no_check_out"). Unless the volunteer was there for
    at least ``min_share`` of the scheduled slot, nothing counts ("short"). Then "attended" counts
    check-in to check-out, set-up time included; "scheduled" counts the slot's length. Less than
    0.1 h rounds to nothing ("too_short")."""
    if not attendance or not attendance.get("checked_in_at"):
        return 0.0, "not_checked_in"
    began = attendance["checked_in_at"]
    ended = attendance.get("checked_out_at") or max(end, began)
    slot = (end - start).total_seconds()
    inside = max(0.0, (min(ended, end) - max(began, start)).total_seconds())
    if slot > 0 and inside / slot + 1e-9 < min_share:
        return 0.0, "short"
    if basis == "scheduled":
        hours = round(slot / 3600, 1)
    else:
        hours = round(max(0.0, (ended - began).total_seconds()) / 3600, 1)
    if hours == 0:
        return 0.0, "too_short"
    return hours, None if attendance.get("checked_out_at") else "no_check_out"


def hours_reason_text(code: str | None, min_share: float = 0.5) -> str | None:
    """The Chinese text of a reason code ("short" names the palace's share, e.g. 50%)."""
    if code is None:
        return None
    return HOURS_REASONS[code].replace("{share}", f"{round(min_share * 100):g}")


def hours_row(volunteer_id: str, attendance: dict | None, plan: dict, rules: dict, granted: float = 0.0) -> dict:
    """One volunteer's hours on a delivery with the reason, as stored at completion and shown on
    the plan before it."""
    basis, share = hours_rules(rules)
    hours, reason = counted_hours(attendance, plan["start"], plan["end"], basis, share)
    return {
        "volunteer_id": volunteer_id,
        "hours": hours,
        "granted_hours": granted,
        "hours_reason": reason,
        "hours_reason_text": hours_reason_text(reason, share),
        "min_attendance_share": share,
    }


def hours_rules(rules: dict | None) -> tuple[str, float]:
    """The palace's hours basis and minimum attendance share (defaults: attended, 50%)."""
    rules = rules or {}
    share = rules.get("min_attendance_share")
    return rules.get("hours_basis") or "attended", 0.5 if share is None else float(share)


# ------------------------------------------------------------------ the day of the delivery

# a crew member can check in from this long before the scheduled start (arriving to set up)
CHECK_IN_OPENS_MINUTES = 60


class DayError(Exception):
    """The day's rules refuse: ``code`` and the Chinese message say why; ``field`` names the
    input to fix (a 400 on that field) or is None (a 409: not now)."""

    def __init__(self, message: Message, code: str, field: str | None = None):
        super().__init__(message, code, field)
        self.message, self.code, self.field = message, code, field


def china_time(at: dt.datetime) -> Message:
    """e.g. "12 月 8 日 13:00" (China time), as people write it."""
    return month_day_time(at)


def check_in_opens_at(start: dt.datetime) -> dt.datetime:
    return start - dt.timedelta(minutes=CHECK_IN_OPENS_MINUTES)


def check_in_allowed(start: dt.datetime, at: dt.datetime) -> None:
    """Check-in opens CHECK_IN_OPENS_MINUTES before the start; before that it is refused with when."""
    opens = check_in_opens_at(start)
    if at < opens:
        raise DayError(Message("签到将于 {at} 开放。", at=china_time(opens)), "CHECK_IN_NOT_OPEN")


def completion_allowed(
    start: dt.datetime, at: dt.datetime, attendance: dict, crew: list[str], reason: str | None
) -> None:
    """A delivery is recorded as done only once its slot has started; if nobody on the crew
    checked in, the dispatcher says why (nobody then gets counted hours)."""
    if at < start:
        raise DayError(Message("服务 {at} 才开始，开始后才能记录服务完成。", at=china_time(start)), "NOT_STARTED")
    if not any((attendance.get(v) or {}).get("checked_in_at") for v in crew) and not (reason or "").strip():
        raise DayError(Message("没有志愿者签到，请说明原因（例如：现场代签未登记）。"), "REASON_REQUIRED", "reason")


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
                "hours_reason": row.get("hours_reason"),
                "hours_reason_text": row.get("hours_reason_text"),
                "min_attendance_share": row.get("min_attendance_share"),
                "granted_reason": "granted" if granted else None,
                "granted_reason_text": HOURS_REASONS["granted"] if granted else None,
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


# ------------------------------------------------------------------ loans of troupes in an alliance (队伍联用)

LOAN_OPEN = ("pending", "approved")
_LOAN_LABELS = {
    "approved": N_("已经同意"),
    "refused": N_("已经拒绝"),
    "expired": N_("已经过期"),
    "ended": N_("已经结束"),
}


class LoanError(Exception):
    """A loan cannot move that way; ``code`` and the Chinese message say why."""

    def __init__(self, message: Message, code: str):
        super().__init__(message, code)
        self.message, self.code = message, code


def decide_loan(loan: dict, verdict: str, by: str, at: dt.datetime, reason: str | None = None) -> dict:
    """The owning palace's answer to a pending request: "approved", or "refused" with a reason.
    A pending request whose order starts meanwhile has expired instead."""
    if loan["status"] != "pending":
        label = Message(_LOAN_LABELS.get(loan["status"]) or N_("已经处理"))
        raise LoanError(Message("这份借用申请{label}，不能再答复。", label=label), "LOAN_DECIDED")
    if loan.get("expires_at") and loan["expires_at"] <= at:
        raise LoanError(Message("这份借用申请已经过期。"), "LOAN_EXPIRED")
    if verdict == "refused" and not (reason or "").strip():
        raise LoanError(Message("拒绝借用请写明理由。"), "REASON_REQUIRED")
    if verdict not in ("approved", "refused"):
        raise LoanError(Message("只能同意或拒绝。"), "BAD_VERDICT")
    return {**loan, "status": verdict, "decided_by": by, "decided_at": at, "reason": reason}


def end_loan(loan: dict, cause: str, at: dt.datetime) -> dict | None:
    """An open loan ends when its request expires or its order is cancelled; a closed one stays."""
    if loan["status"] not in LOAN_OPEN:
        return None
    if cause == "expired" and loan["status"] != "pending":
        return None  # an approved loan lasts as long as its order
    return {**loan, "status": "expired" if cause == "expired" else "ended", "ended_at": at, "end_cause": cause}


def lent_for(loans: list[dict], order_id: str) -> list[str]:
    """The troupes an order may draw on beyond its own palace: those lent to it, approved."""
    return sorted({x["troupe_id"] for x in loans if x["order_id"] == order_id and x["status"] == "approved"})


def skill_counts(members: list[dict]) -> dict[str, int]:
    """How many members have each skill: what the allied palaces see of a shared troupe."""
    out: dict[str, int] = {}
    for v in members:
        for s in set(v.get("skills") or ()):
            out[s] = out.get(s, 0) + 1
    return dict(sorted(out.items()))


def with_lent(
    volunteers: list[dict], troupes: list[dict], lent_troupes: list[dict], lent_members: list[dict]
) -> tuple[list[dict], list[dict]]:
    """An order's candidates: the own palace's people and troupes, then the troupes lent to it
    and their members (each once). Their bookings and loads are their own wherever they serve."""
    have = {v["volunteer_id"] for v in volunteers}
    have_troupes = {t["troupe_id"] for t in troupes}
    return (
        [*volunteers, *(v for v in lent_members if v["volunteer_id"] not in have)],
        [*troupes, *(t for t in lent_troupes if t["troupe_id"] not in have_troupes)],
    )


# ------------------------------------------------------------------ limits: the counters' keys


def week_key(t: dt.datetime) -> str:
    """The ISO week (China time) a delivery counts in: ``2026-W50``."""
    year, week, _ = t.astimezone(CN).isocalendar()
    return f"{year}-W{week:02d}"


def month_key(t: dt.datetime) -> str:
    """The month (China time) a delivery's minutes count in: ``2026-12``."""
    local = t.astimezone(CN)
    return f"{local.year}-{local.month:02d}"


# ------------------------------------------------------------------ records: the documents a use case writes

DEFAULT_OFFER_HOURS = DEFAULTS["OFFER_HOURS"]

ORDER_FIELDS = (
    "order_id",
    "palace_id",
    "enterprise_id",
    "program_id",
    "program_title",
    "custom_request",
    "site_address",
    "district",
    "audience_size",
    "windows",
)


def new_plan(order: dict, at: dt.datetime) -> dict:
    """The plan of an accepted order, before anyone is asked."""
    return {
        "order_id": order["order_id"],
        "palace_id": order["palace_id"],
        "order": order,
        "status": "planning",
        "program_id": order.get("program_id"),
        "program_title": order.get("program_title"),
        "troupe_id": None,
        "start": None,
        "end": None,
        "needs": [],
        "reserves": {},
        "asked": [],
        "reason": None,
        "attendance": {},
        "first_start": min(w["start"] for w in order["windows"]) if order.get("windows") else None,
        "explanation": None,
        "troupe_load_key": None,
        "grants": [],
        "created_at": at,
        "updated_at": at,
    }


def offer_hours(palace: dict | None, default: float | None = None) -> float:
    """How long a volunteer has to answer: the palace's setting, else the deployment's, else a day."""
    return float((palace or {}).get("offer_hours") or default or DEFAULT_OFFER_HOURS)


def offer_deadline(start: dt.datetime, hours: float, at: dt.datetime) -> dt.datetime:
    """``hours`` from now, but no later than the start (or half an hour from now, if sooner)."""
    return min(at + dt.timedelta(hours=hours), max(start, at + dt.timedelta(minutes=30)))


def new_offer(
    offer_id: str,
    plan: dict,
    volunteer_id: str,
    skill: str,
    rank: int,
    *,
    deadline: dt.datetime,
    at: dt.datetime,
    kind: str = "plan",
    explanation: dict | None = None,
    replaces: str | None = None,
) -> dict:
    """An offer of one role of a planned order, with the counters it takes (the week's delivery
    and the month's minutes)."""
    order = plan["order"]
    minutes = round((plan["end"] - plan["start"]).total_seconds() / 60)
    return {
        "offer_id": offer_id,
        "order_id": plan["order_id"],
        "palace_id": plan["palace_id"],
        "volunteer_id": volunteer_id,
        "skill": skill,
        "start": plan["start"],
        "end": plan["end"],
        "deadline": deadline,
        "rank": rank,
        "status": "pending",
        "reason": None,
        "kind": kind,
        "replaces_offer_id": replaces,
        "explanation": explanation,
        "troupe_id": plan["troupe_id"],
        "program_title": plan.get("program_title"),
        "site_address": order["site_address"],
        "district": order["district"],
        "pad_minutes": plan.get("pad_minutes") or 0,
        "load_keys": [
            [f"v:{volunteer_id}:{week_key(plan['start'])}", 1],
            [f"v:{volunteer_id}:{month_key(plan['start'])}", minutes],
        ],
        "created_at": at,
        "answered_at": None,
    }


def new_no_show(no_show_id: str, plan: dict, offer: dict, reason: str, by: str, cover: dict | None, at) -> dict:
    return {
        "no_show_id": no_show_id,
        "order_id": plan["order_id"],
        "palace_id": plan["palace_id"],
        "volunteer_id": offer["volunteer_id"],
        "skill": offer["skill"],
        "reason": reason,
        "reported_by": by,
        "reported_at": at,
        "cover_offer_id": cover["offer_id"] if cover else None,
        "cleared": False,
        "cleared_reason": None,
        "cleared_at": None,
    }


def new_grant(volunteer_id: str, hours: float, reason: str, by: str, at: dt.datetime) -> dict:
    return {
        "volunteer_id": volunteer_id,
        "hours": round(hours, 1),
        "reason": reason,
        "granted_by": by,
        "granted_at": at,
    }


def new_alliance(alliance_id: str, name: str, palace_ids: list[str], at: dt.datetime) -> dict:
    return {"alliance_id": alliance_id, "name": name, "palace_ids": palace_ids, "created_at": at}


def new_loan(
    loan_id: str, plan: dict, troupe: dict, alliance: dict, palace_id: str, note: str | None, by: str, at, first
) -> dict:
    """A request to borrow an allied troupe for one order; unanswered when the order could start
    (``first``), it is too late to lend."""
    return {
        "loan_id": loan_id,
        "order_id": plan["order_id"],
        "troupe_id": troupe["troupe_id"],
        "troupe_name": troupe["name"],
        "alliance_id": alliance["alliance_id"],
        "owner_palace_id": troupe["palace_id"],
        "palace_id": palace_id,
        "status": "pending",
        "program_title": plan.get("program_title") or plan["order"].get("program_title"),
        "first_start": first,
        "note": note,
        "reason": None,
        "requested_by": by,
        "decided_by": None,
        "created_at": at,
        "decided_at": None,
        "expires_at": first,
    }


def shared_troupe_view(troupe: dict, people: list[dict], palace: dict | None, titles: dict[str, str]) -> dict:
    """What the alliance sees of a shared troupe: never a member's name or phone number."""
    return {
        "troupe_id": troupe["troupe_id"],
        "name": troupe["name"],
        "palace_id": troupe["palace_id"],
        "palace_name": (palace or {}).get("name"),
        "district": troupe.get("district"),
        "repertoire": troupe.get("repertoire") or [],
        "repertoire_titles": [titles[r] for r in troupe.get("repertoire") or [] if r in titles],
        "member_count": len(people),
        "skills": skill_counts(people),
        "shared": True,
    }


# ------------------------------------------------------------------ the hours of a delivery


def granted_by_volunteer(plan: dict) -> dict[str, float]:
    granted: dict[str, float] = {}
    for g in plan.get("grants", []):
        granted[g["volunteer_id"]] = round(granted.get(g["volunteer_id"], 0.0) + g["hours"], 1)
    return granted


def crew_hours(plan: dict, crew: list[str], rules: dict) -> list[dict]:
    """Each crew member's hours on the delivery, as stored at completion: counted by the palace's
    rules from the attendance, with the hours granted by hand beside them."""
    granted = granted_by_volunteer(plan)
    return [hours_row(v, plan["attendance"].get(v), plan, rules, granted.get(v, 0.0)) for v in crew]


# ------------------------------------------------------------------ event payloads, each built in one place

_OFFER_EVENT = ("offer_id", "order_id", "palace_id", "volunteer_id", "skill")
_OFFER_MADE = (*_OFFER_EVENT, "start", "end", "deadline", "rank", "troupe_id", "kind", "replaces_offer_id")


def offer_event(offer: dict, *, made: bool = False) -> dict:
    """What offer_accepted, offer_declined and offer_expired say of an offer; ``made``: what
    offer_made says (its slot, deadline, rank and kind too)."""
    return {k: offer[k] for k in (_OFFER_MADE if made else _OFFER_EVENT)}


def loan_event(loan: dict) -> dict:
    return {k: loan[k] for k in ("loan_id", "order_id", "troupe_id", "alliance_id", "owner_palace_id", "palace_id")}


def scheduled_event(plan: dict, crew: list[dict]) -> dict:
    return {
        "order_id": plan["order_id"],
        "palace_id": plan["palace_id"],
        "program_title": plan.get("program_title"),
        "troupe_id": plan["troupe_id"],
        "start": plan["start"],
        "end": plan["end"],
        "crew": [{"volunteer_id": o["volunteer_id"], "skill": o["skill"]} for o in crew],
    }


def delivery_event(plan: dict) -> dict:
    """delivery_completed: the delivery and each crew member's counted and granted hours."""
    order = plan["order"]
    return {
        "order_id": plan["order_id"],
        "palace_id": plan["palace_id"],
        "enterprise_id": order["enterprise_id"],
        "program_id": order.get("program_id"),
        "program_title": plan.get("program_title"),
        "troupe_id": plan.get("troupe_id"),
        "district": order["district"],
        "start": plan["start"],
        "end": plan["end"],
        "people_served": plan["people_served"],
        "completed_at": plan["completed_at"],
        "volunteers": [{k: r[k] for k in ("volunteer_id", "hours", "granted_hours")} for r in plan["hours"]],
    }
