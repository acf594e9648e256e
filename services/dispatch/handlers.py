"""Dispatch use cases: plain functions of (input, unit of work) that change state and emit events."""

from __future__ import annotations

import datetime as dt

from common.errors import Conflict, Forbidden
from contracts.base import new_id, now
from services.dispatch import domain, repository

DEFAULT_OFFER_HOURS = 24
OPEN = ("planning",)


# -------------------------------------------------------------- planning


def on_order_accepted(event: dict, uow, offer_hours: float | None = None) -> None:
    plan = repository.find(uow.db, "plans", event["order_id"], uow.session)
    if plan and plan["status"] not in ("unfulfillable",):
        return  # already planned, or cancelled before this event arrived
    order = {
        k: event[k]
        for k in (
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
    }
    plan = _new_plan(order)
    _plan(plan, uow, offer_hours)


def on_order_amended(event: dict, uow, offer_hours: float | None = None) -> None:
    plan = repository.find(uow.db, "plans", event["order_id"], uow.session)
    if plan is None or plan["status"] not in ("planning", "unfulfillable"):
        return
    _withdraw_all(plan, uow)
    order = {**plan["order"], **{k: event[k] for k in plan["order"] if k in event}}
    _plan(_new_plan(order), uow, offer_hours)


def on_order_cancelled(event: dict, uow) -> None:
    plan = repository.find(uow.db, "plans", event["order_id"], uow.session)
    if plan is None:  # cancelled before dispatch heard of it: leave a tombstone
        plan = {"order_id": event["order_id"], "palace_id": event["palace_id"], "order": None, "created_at": now()}
    elif plan["status"] in ("delivered", "cancelled"):
        return
    else:
        _withdraw_all(plan, uow)
    plan.update(status="cancelled", reason=event.get("reason"), updated_at=now())
    repository.save_plan(uow, plan)


def _new_plan(order: dict) -> dict:
    at = now()
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
        "created_at": at,
        "updated_at": at,
    }


def _plan(plan: dict, uow, offer_hours: float | None) -> None:
    order = plan["order"]
    if not order.get("program_id"):
        return _unfulfillable(plan, uow, "NO_PROGRAM", "自定义需求需要调度员先指定一个节目，才能派单。")
    program = repository.find(uow.db, "programs", order["program_id"], uow.session)
    if program is None:
        return _unfulfillable(plan, uow, "NO_PROGRAM", "节目目录里没有这个节目。")
    skills = sorted({n["skill"] for n in program["needs"]})
    volunteers = repository.volunteers_with(uow, order["palace_id"], skills)
    troupes = repository.troupes_for(uow, order["palace_id"], program["program_id"])
    busy = repository.busy_checker(uow, [v["volunteer_id"] for v in volunteers], order["windows"])
    result = domain.plan_crew(order, program, troupes, volunteers, busy)
    plan.update(needs=program["needs"], program_title=program["title"], duration_minutes=program["duration_minutes"])
    if isinstance(result, domain.NoCrew):
        return _unfulfillable(plan, uow, "NO_CREW", result.reason())
    plan.update(troupe_id=result.troupe_id, start=result.start, end=result.end, reserves=result.reserves)
    hours = _offer_hours(uow, order["palace_id"], offer_hours)
    for rank_in_skill, (vid, skill) in enumerate(result.chosen, 1):
        _offer(plan, uow, vid, skill, rank_in_skill, hours)
    plan["updated_at"] = now()
    repository.save_plan(uow, plan)


def _offer_hours(uow, palace_id: str, default: float | None = None) -> float:
    """How long a volunteer has to answer: the palace's setting, else the deployment's."""
    palace = repository.find(uow.db, "palaces", palace_id, uow.session)
    return float((palace or {}).get("offer_hours") or default or DEFAULT_OFFER_HOURS)


def _offer(plan: dict, uow, volunteer_id: str, skill: str, rank: int, hours: float) -> dict:
    order = plan["order"]
    offer = {
        "offer_id": new_id(),
        "order_id": plan["order_id"],
        "palace_id": plan["palace_id"],
        "volunteer_id": volunteer_id,
        "skill": skill,
        "start": plan["start"],
        "end": plan["end"],
        "deadline": now() + dt.timedelta(hours=hours),
        "rank": rank,
        "status": "pending",
        "reason": None,
        "troupe_id": plan["troupe_id"],
        "program_title": plan.get("program_title"),
        "site_address": order["site_address"],
        "district": order["district"],
        "created_at": now(),
        "answered_at": None,
    }
    repository.insert_offer(uow, offer)
    repository.book(uow, offer)  # the unique key refuses a double booking, even across processes
    plan["asked"] = [*plan.get("asked", []), volunteer_id]
    uow.emit(
        "offer_made",
        offer_id=offer["offer_id"],
        order_id=offer["order_id"],
        palace_id=offer["palace_id"],
        volunteer_id=volunteer_id,
        skill=skill,
        start=offer["start"],
        end=offer["end"],
        deadline=offer["deadline"],
        rank=rank,
        troupe_id=offer["troupe_id"],
    )
    return offer


def _unfulfillable(plan: dict, uow, code: str, reason: str) -> None:
    plan.update(status="unfulfillable", reason=reason, updated_at=now())
    repository.save_plan(uow, plan)
    uow.emit("order_unfulfillable", order_id=plan["order_id"], palace_id=plan["palace_id"], code=code, reason=reason)


def _withdraw_all(plan: dict, uow) -> None:
    for offer in repository.offers_of_order(uow.db, plan["order_id"], uow.session):
        if offer["status"] in ("pending", "accepted"):
            offer.update(status="withdrawn", answered_at=offer.get("answered_at") or now())
            repository.save_offer(uow, offer)
        repository.release(uow, offer["offer_id"])


# -------------------------------------------------------------- answers


def _pending_offer(uow, offer_id: str, volunteer_id: str | None) -> dict:
    offer = repository.get(uow.db, "offers", offer_id, uow.session)
    if volunteer_id is not None and offer["volunteer_id"] != volunteer_id:
        raise Forbidden("这不是发给您的邀约。", "NOT_YOUR_OFFER")
    if offer["status"] != "pending":
        labels = {"accepted": "已接受", "declined": "已婉拒", "expired": "已过期", "withdrawn": "已撤回"}
        raise Conflict(f"这个邀约{labels.get(offer['status'], '已处理')}，不能再答复。", "OFFER_NOT_PENDING")
    return offer


def accept_offer(offer_id: str, volunteer_id: str, uow) -> dict:
    offer = _pending_offer(uow, offer_id, volunteer_id)
    if offer["deadline"] <= now():
        raise Conflict("这个邀约已过答复期限。", "OFFER_EXPIRED")
    offer.update(status="accepted", answered_at=now())
    repository.save_offer(uow, offer)
    uow.emit(
        "offer_accepted",
        offer_id=offer_id,
        order_id=offer["order_id"],
        palace_id=offer["palace_id"],
        volunteer_id=offer["volunteer_id"],
        skill=offer["skill"],
    )
    plan = repository.get(uow.db, "plans", offer["order_id"], uow.session)
    accepted = [
        o for o in repository.offers_of_order(uow.db, plan["order_id"], uow.session) if o["status"] == "accepted"
    ]
    if plan["status"] == "planning" and domain.covered(plan["needs"], [o["skill"] for o in accepted]):
        plan.update(status="scheduled", updated_at=now())
        repository.save_plan(uow, plan)
        uow.emit(
            "order_scheduled",
            order_id=plan["order_id"],
            palace_id=plan["palace_id"],
            troupe_id=plan["troupe_id"],
            start=plan["start"],
            end=plan["end"],
            crew=[{"volunteer_id": o["volunteer_id"], "skill": o["skill"]} for o in accepted],
        )
    return offer


def decline_offer(offer_id: str, volunteer_id: str | None, reason: str | None, uow, *, expired: bool = False) -> dict:
    offer = _pending_offer(uow, offer_id, volunteer_id)
    offer.update(status="expired" if expired else "declined", reason=reason, answered_at=now())
    repository.save_offer(uow, offer)
    repository.release(uow, offer_id)
    common = dict(
        offer_id=offer_id,
        order_id=offer["order_id"],
        palace_id=offer["palace_id"],
        volunteer_id=offer["volunteer_id"],
        skill=offer["skill"],
    )
    if expired:
        uow.emit("offer_expired", **common)
    else:
        uow.emit("offer_declined", reason=reason, **common)
    plan = repository.get(uow.db, "plans", offer["order_id"], uow.session)
    if plan["status"] == "planning":
        _next_candidate(plan, offer, uow)
    return offer


def _next_candidate(plan: dict, offer: dict, uow) -> None:
    """A decline goes to the next-ranked reserve who is still free; none left: unfulfillable."""
    asked = set(plan.get("asked", []))
    for vid in plan["reserves"].get(offer["skill"], []):
        if vid in asked:
            continue
        volunteer = repository.find(uow.db, "volunteers", vid, uow.session)
        if volunteer is None or not domain.is_available(volunteer, plan["start"], plan["end"]):
            continue
        if repository.is_busy(uow, vid, plan["start"], plan["end"]):
            continue
        rank = (
            sum(
                1
                for o in repository.offers_of_order(uow.db, plan["order_id"], uow.session)
                if o["skill"] == offer["skill"]
            )
            + 1
        )
        _offer(plan, uow, vid, offer["skill"], rank, _offer_hours(uow, plan["palace_id"]))
        plan["updated_at"] = now()
        repository.save_plan(uow, plan)
        return
    _withdraw_all(plan, uow)
    _unfulfillable(
        plan, uow, "NO_CANDIDATES", f"{offer['skill']} 已没有可邀请的志愿者（其余人选均已婉拒、过期或没空）。"
    )


def expire_offer(offer_id: str, uow) -> dict | None:
    offer = repository.find(uow.db, "offers", offer_id, uow.session)
    if offer is None or offer["status"] != "pending" or offer["deadline"] > now():
        return None
    return decline_offer(offer_id, None, "超过答复期限", uow, expired=True)


# -------------------------------------------------------------- the day itself


def _scheduled_plan(uow, order_id: str) -> dict:
    plan = repository.get(uow.db, "plans", order_id, uow.session)
    if plan["status"] != "scheduled":
        raise Conflict("这个订单还没有排定，或服务已经结束。", "NOT_SCHEDULED")
    return plan


def _crew(uow, plan: dict) -> list[dict]:
    return [o for o in repository.offers_of_order(uow.db, plan["order_id"], uow.session) if o["status"] == "accepted"]


def check_in(order_id: str, volunteer_id: str, at, uow) -> dict:
    plan = _scheduled_plan(uow, order_id)
    if volunteer_id not in {o["volunteer_id"] for o in _crew(uow, plan)}:
        raise Forbidden("您不在这次服务的人员名单里。", "NOT_IN_CREW")
    record = plan["attendance"].get(volunteer_id) or {}
    if record.get("checked_in_at"):
        raise Conflict("您已经签到过了。", "ALREADY_CHECKED_IN")
    record = {"checked_in_at": at or now(), "checked_out_at": None}
    plan["attendance"][volunteer_id] = record
    plan["updated_at"] = now()
    repository.save_plan(uow, plan)
    return {"volunteer_id": volunteer_id, **record}


def check_out(order_id: str, volunteer_id: str, at, uow) -> dict:
    plan = _scheduled_plan(uow, order_id)
    record = plan["attendance"].get(volunteer_id)
    if not record or not record.get("checked_in_at"):
        raise Conflict("请先签到，再签退。", "NOT_CHECKED_IN")
    if record.get("checked_out_at"):
        raise Conflict("您已经签退过了。", "ALREADY_CHECKED_OUT")
    at = at or now()
    if at < record["checked_in_at"]:
        raise Conflict("签退时间不能早于签到时间。", "CHECK_OUT_BEFORE_CHECK_IN")
    record["checked_out_at"] = at
    plan["updated_at"] = now()
    repository.save_plan(uow, plan)
    return {"volunteer_id": volunteer_id, **record}


def complete_delivery(order_id: str, people_served: int, at, uow) -> dict:
    plan = _scheduled_plan(uow, order_id)
    completed_at = at or now()
    hours = [
        {
            "volunteer_id": o["volunteer_id"],
            "hours": domain.service_hours(plan["attendance"].get(o["volunteer_id"]), plan["start"], plan["end"]),
        }
        for o in _crew(uow, plan)
    ]
    plan.update(
        status="delivered", people_served=people_served, completed_at=completed_at, hours=hours, updated_at=now()
    )
    repository.save_plan(uow, plan)
    order = plan["order"]
    uow.emit(
        "delivery_completed",
        order_id=order_id,
        palace_id=plan["palace_id"],
        enterprise_id=order["enterprise_id"],
        program_id=order.get("program_id"),
        program_title=plan.get("program_title"),
        troupe_id=plan.get("troupe_id"),
        district=order["district"],
        start=plan["start"],
        end=plan["end"],
        people_served=people_served,
        completed_at=completed_at,
        volunteers=hours,
    )
    return plan
