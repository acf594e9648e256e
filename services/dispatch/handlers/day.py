"""The day of a delivery: check-in and check-out, no-shows and their cover, hours granted by
hand, and the delivery recorded."""

from __future__ import annotations

from common.errors import Conflict, Forbidden, Invalid
from contracts.base import new_id, now
from services.dispatch import domain, repository
from services.dispatch.handlers import answers, candidates, planning


def _scheduled_plan(uow, order_id: str) -> dict:
    plan = repository.plan(uow, order_id)
    if plan["status"] != "scheduled":
        raise Conflict("这个订单还没有排定，或服务已经结束。", "NOT_SCHEDULED")
    return plan


def _day_rule(rule, *args) -> None:
    try:
        rule(*args)
    except domain.DayError as err:
        if err.field:
            raise Invalid("提交的内容有误，请检查标出的字段。", err.code, {err.field: [err.message]}) from None
        raise Conflict(err.message, err.code) from None


def check_in(
    order_id: str, volunteer_id: str, at, uow, code: str | None = None, staff: bool = False, moment=None
) -> dict:
    """A crew member arrives. A volunteer signs in with the code shown on site; a dispatcher may
    sign someone in without it. Check-in opens a while before the start (domain.check_in_allowed),
    judged at ``moment`` (the clock)."""
    plan = _scheduled_plan(uow, order_id)
    if volunteer_id not in {o["volunteer_id"] for o in candidates.crew(uow, plan)}:
        raise Forbidden("您不在这次服务的人员名单里。", "NOT_IN_CREW")
    _day_rule(domain.check_in_allowed, plan["start"], moment or now())
    if not staff and plan.get("sign_in_code") and (code or "").strip() != plan["sign_in_code"]:
        raise Conflict("签到码不对，请向现场的企业工会联系人确认。", "BAD_SIGN_IN_CODE")
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


def report_no_show(order_id: str, volunteer_id: str, reason: str, by: str, uow) -> dict:
    """A crew member did not come: the record is kept (with the reason), their time and counts are
    freed, and the best-ranked free volunteer is asked to cover, due before the start."""
    plan = _scheduled_plan(uow, order_id)
    offer = next((o for o in candidates.crew(uow, plan) if o["volunteer_id"] == volunteer_id), None)
    if offer is None:
        raise Conflict("这位志愿者不在这次服务的人员名单里。", "NOT_IN_CREW")
    if (plan["attendance"].get(volunteer_id) or {}).get("checked_in_at"):
        raise Conflict("这位志愿者已经签到，不能记为缺席。", "ALREADY_CHECKED_IN")
    planning.close_offer(uow, offer, "no_show", keep_answered=True, reason=reason)
    cover = answers.cover(plan, uow, offer["skill"], offer["offer_id"])
    record = domain.new_no_show(new_id(), plan, offer, reason, by, cover, now())
    repository.insert_no_show(uow, record)
    uow.emit(
        "volunteer_no_show",
        no_show_id=record["no_show_id"],
        order_id=order_id,
        palace_id=plan["palace_id"],
        volunteer_id=volunteer_id,
        skill=offer["skill"],
        reason=reason,
        cover_offer_id=record["cover_offer_id"],
    )
    return record


def clear_no_show(no_show_id: str, reason: str, uow) -> dict:
    record = repository.no_show(uow, no_show_id)
    if record["cleared"]:
        raise Conflict("这条缺席记录已经撤销过了。", "ALREADY_CLEARED")
    record.update(cleared=True, cleared_reason=reason, cleared_at=now())
    repository.save_no_show(uow, record)
    uow.emit(
        "no_show_cleared",
        no_show_id=no_show_id,
        palace_id=record["palace_id"],
        volunteer_id=record["volunteer_id"],
        reason=reason,
    )
    return record


def grant_hours(order_id: str, volunteer_id: str, hours: float, reason: str, by: str, uow) -> dict:
    """Hours a dispatcher grants by hand: kept apart from counted hours, marked with who and why."""
    plan = repository.plan(uow, order_id)
    if plan["status"] not in ("scheduled", "delivered"):
        raise Conflict("只有已排定或已完成的服务才能补记时长。", "NOT_SCHEDULED")
    served = {
        o["volunteer_id"]
        for o in repository.offers_of_order(uow, order_id)
        if o["status"] in ("accepted", "no_show", "handed_over")
    }
    if volunteer_id not in served:
        raise Conflict("这位志愿者没有参加这次服务。", "NOT_IN_CREW")
    grant = domain.new_grant(volunteer_id, hours, reason, by, now())
    plan["grants"] = [*plan.get("grants", []), grant]
    plan["updated_at"] = now()
    repository.save_plan(uow, plan)
    uow.emit(
        "hours_granted",
        order_id=order_id,
        palace_id=plan["palace_id"],
        volunteer_id=volunteer_id,
        hours=grant["hours"],
        reason=reason,
        granted_by=by,
    )
    return grant


def complete_delivery(order_id: str, people_served: int, at, uow, reason: str | None = None, moment=None) -> dict:
    """The delivery took place: only once its slot has started (judged at ``moment``, the clock),
    and with a reason when nobody on the crew checked in (then nobody gets counted hours; a
    dispatcher can grant them later)."""
    plan = _scheduled_plan(uow, order_id)
    crew = [o["volunteer_id"] for o in candidates.crew(uow, plan)]
    reason = (reason or "").strip() or None
    _day_rule(domain.completion_allowed, plan["start"], moment or now(), plan["attendance"], crew, reason)
    completed_at = at or now()
    rules = candidates.palace(uow, plan["palace_id"]).get("rules") or {}
    plan.update(
        status="delivered",
        people_served=people_served,
        completed_at=completed_at,
        completion_reason=reason,
        hours=domain.crew_hours(plan, crew, rules),
        updated_at=now(),
    )
    repository.save_plan(uow, plan)
    order = plan["order"]
    served = [f"e:{order['enterprise_id']}", f"d:{plan['palace_id']}:{order['district']}"]
    uow.after_commit(lambda: repository.mark_served(uow.db, served, completed_at))
    uow.emit("delivery_completed", **domain.delivery_event(plan))
    return plan
