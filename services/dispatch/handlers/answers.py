"""A volunteer's answer to an offer: accepted (the crew may be complete), declined or expired
(the next candidate is asked), and cover for a no-show."""

from __future__ import annotations

from common.errors import N_, Conflict, Forbidden, Message
from contracts.base import now
from services.dispatch import domain, planner, repository
from services.dispatch.handlers import candidates, planning

_OFFER_LABELS = {"accepted": N_("已接受"), "declined": N_("已婉拒"), "expired": N_("已过期"), "withdrawn": N_("已撤回")}


def _pending_offer(uow, offer_id: str, volunteer_id: str | None) -> dict:
    offer = repository.offer(uow, offer_id)
    if volunteer_id is not None and offer["volunteer_id"] != volunteer_id:
        raise Forbidden("这不是发给您的邀约。", "NOT_YOUR_OFFER")
    if offer["status"] != "pending":
        state = Message(_OFFER_LABELS.get(offer["status"]) or N_("已处理"))
        raise Conflict("这个邀约{state}，不能再答复。", "OFFER_NOT_PENDING", params={"state": state})
    return offer


def accept_offer(offer_id: str, volunteer_id: str, uow) -> dict:
    current = repository.offer(uow, offer_id)
    if current["status"] == "accepted" and current["volunteer_id"] == volunteer_id:
        return current  # the same answer again (a phone retrying after a lost reply) changes nothing
    offer = _pending_offer(uow, offer_id, volunteer_id)
    if offer["deadline"] <= now():
        raise Conflict("这个邀约已过答复期限。", "OFFER_EXPIRED")
    offer.update(status="accepted", answered_at=now())
    repository.save_offer(uow, offer)
    uow.emit("offer_accepted", **domain.offer_event(offer))
    plan = repository.plan(uow, offer["order_id"])
    if offer.get("kind") == "swap" and offer.get("replaces_offer_id"):
        _hand_over(uow, plan, offer)
    accepted = candidates.crew(uow, plan)
    # Every acceptance writes the plan, so two members accepting at the same moment conflict
    # and one is retried: each alone would see only its own acceptance and never the crew.
    plan["updated_at"] = now()
    complete = plan["status"] == "planning" and domain.covered(plan["needs"], [o["skill"] for o in accepted])
    if complete:
        plan.update(status="scheduled", sign_in_code=domain.sign_in_code())
    repository.save_plan(uow, plan)
    if complete:
        uow.emit("order_scheduled", **domain.scheduled_event(plan, accepted))
    return offer


def _hand_over(uow, plan: dict, offer: dict) -> None:
    """The colleague accepted: the original assignment is handed over and its time freed."""
    original = repository.offer(uow, offer["replaces_offer_id"])
    if original["status"] != "accepted":
        raise Conflict("原来的任务已经不在了，不能再转交。", "SWAP_STALE")
    planning.close_offer(
        uow, original, "handed_over", reason=Message("转交给 {volunteer_id}", volunteer_id=offer["volunteer_id"])
    )
    uow.emit(
        "assignment_handed_over",
        order_id=plan["order_id"],
        palace_id=plan["palace_id"],
        skill=offer["skill"],
        from_volunteer_id=original["volunteer_id"],
        to_volunteer_id=offer["volunteer_id"],
        from_offer_id=original["offer_id"],
        to_offer_id=offer["offer_id"],
    )


def decline_offer(offer_id: str, volunteer_id: str | None, reason: str | None, uow, *, expired: bool = False) -> dict:
    """A decline (or an expired offer) goes to the best-ranked volunteer still free; nobody left:
    the order is unfulfillable. A declined swap leaves the original assignment standing."""
    offer = _pending_offer(uow, offer_id, volunteer_id)
    planning.close_offer(uow, offer, "expired" if expired else "declined", reason=reason)
    if expired:
        uow.emit("offer_expired", **domain.offer_event(offer))
    else:
        uow.emit("offer_declined", reason=reason, **domain.offer_event(offer))
    plan = repository.plan(uow, offer["order_id"])
    if offer.get("kind") == "swap":
        return offer  # the hand-over did not happen; the original assignment stands
    if plan["status"] == "planning":
        next_candidate(plan, offer, uow)
    elif plan["status"] == "scheduled" and offer.get("kind") == "cover":
        cover(plan, uow, offer["skill"], offer.get("replaces_offer_id"))
    return offer


def next_candidate(plan: dict, offer: dict, uow) -> None:
    inst, choice = candidates.candidate(uow, plan, offer["skill"])
    if isinstance(choice, planner.Choice):
        hours = planning.answer_hours(uow, plan)
        planning.offer_role(plan, uow, inst, choice, hours, kind="next", replaces=offer["offer_id"])
        return
    planning.withdraw_all(plan, uow)
    planning.unfulfillable(
        plan,
        uow,
        "NO_CANDIDATES",
        Message("{skill} 已没有可邀请的志愿者（其余人选均已婉拒、过期或没空）。", skill=offer["skill"]),
    )


def cover(plan: dict, uow, skill: str, replaces: str | None) -> dict | None:
    """Cover for a no-show: the best-ranked free volunteer gets an offer due within two hours
    (and before the start); nobody free: the role is marked uncovered."""
    inst, choice = candidates.candidate(uow, plan, skill)
    if not isinstance(choice, planner.Choice):
        plan["uncovered"] = sorted({*plan.get("uncovered", []), skill})
        plan["updated_at"] = now()
        repository.save_plan(uow, plan)
        return None
    return planning.offer_role(plan, uow, inst, choice, 2.0, kind="cover", replaces=replaces)


def expire_offer(offer_id: str, uow) -> dict | None:
    offer = repository.find_offer(uow, offer_id)
    if offer is None or offer["status"] != "pending" or offer["deadline"] > now():
        return None
    return decline_offer(offer_id, None, Message("超过答复期限"), uow, expired=True)
