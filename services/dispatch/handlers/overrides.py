"""A dispatcher's own choice of volunteer, and a volunteer handing an assignment to a colleague.
The hard rules still hold (time, rest gap, limits); the ranking does not."""

from __future__ import annotations

from common.errors import Conflict, Forbidden, Message
from services.dispatch import planner, repository
from services.dispatch.handlers import candidates, planning


def _refuse(miss: planner.Miss):
    """Why the named volunteer cannot take the role: the hard rule that kept most out."""
    if miss.excluded:
        why = max(miss.excluded, key=miss.excluded.get)
        reason = Message(planner.EXCLUDED[why])
        raise Conflict("这位志愿者不能接这个任务：{reason}。", "NOT_ELIGIBLE", params={"reason": reason})
    raise Conflict("这位志愿者不能接这个任务。", "NOT_ELIGIBLE")


def _eligible(uow, plan: dict, skill: str, volunteer_id: str) -> tuple[planner.Instance, planner.Choice]:
    """The named volunteer for the role, or why not."""
    inst, choice = candidates.candidate(uow, plan, skill, only=volunteer_id)
    if not isinstance(choice, planner.Choice):
        _refuse(choice)
    return inst, choice


def assign(order_id: str, volunteer_id: str, skill: str, replaces_offer_id: str | None, by: str, uow) -> dict:
    """The dispatcher overrides the planner: offer this role to this volunteer (withdrawing the
    offer it replaces). An unfulfillable order is planning again."""
    plan = repository.plan(uow, order_id)
    if plan["status"] not in ("planning", "scheduled", "unfulfillable") or plan.get("start") is None:
        raise Conflict("这个订单现在不能调整人员。", "NOT_PLANNING")
    if skill not in {n["skill"] for n in plan.get("needs") or []}:
        raise Conflict("这个节目不需要「{skill}」。", "NO_SUCH_ROLE", params={"skill": skill})
    if replaces_offer_id:
        old = repository.offer(uow, replaces_offer_id)
        if old["order_id"] != order_id:
            raise Conflict("要替换的邀约不属于这个订单。", "OFFER_OF_OTHER_ORDER")
        if old["status"] in ("pending", "accepted"):
            planning.close_offer(
                uow, old, "withdrawn", reason=Message("调度员改派给 {volunteer_id}", volunteer_id=volunteer_id)
            )
    inst, choice = _eligible(uow, plan, skill, volunteer_id)
    explanation = {**(planning.role_explanation(choice) or {}), "override": True, "by": by}
    hours = planning.answer_hours(uow, plan)
    if plan["status"] == "unfulfillable":
        plan.update(status="planning", reason=None)
    return planning.offer_role(
        plan, uow, inst, choice, hours, kind="override", explanation=explanation, replaces=replaces_offer_id
    )


def propose_swap(offer_id: str, volunteer_id: str, to_volunteer_id: str, uow) -> dict:
    """A volunteer hands an accepted assignment to a qualified colleague, who must accept it."""
    offer = repository.offer(uow, offer_id)
    if offer["volunteer_id"] != volunteer_id:
        raise Forbidden("这不是您的任务。", "NOT_YOUR_OFFER")
    if offer["status"] != "accepted":
        raise Conflict("只有已接受的任务才能转给同事。", "NOT_ACCEPTED")
    if to_volunteer_id == volunteer_id:
        raise Conflict("不能转给自己。", "SWAP_TO_SELF")
    plan = repository.plan(uow, offer["order_id"])
    if plan["status"] not in ("planning", "scheduled"):
        raise Conflict("这次服务已经结束或取消，不能再转交。", "NOT_SCHEDULED")
    for other in repository.offers_of_order(uow, plan["order_id"]):
        if other.get("kind") == "swap" and other.get("replaces_offer_id") == offer_id and other["status"] == "pending":
            raise Conflict("这个任务已经在等同事答复了。", "SWAP_PENDING")
    plan["asked"] = [v for v in plan.get("asked", []) if v != to_volunteer_id]
    inst, choice = _eligible(uow, plan, offer["skill"], to_volunteer_id)
    explanation = {**(planning.role_explanation(choice) or {}), "swap_from": volunteer_id}
    hours = planning.answer_hours(uow, plan)
    return planning.offer_role(
        plan, uow, inst, choice, hours, kind="swap", rank=offer["rank"], explanation=explanation, replaces=offer_id
    )
