"""Batch: re-plan every open order of a period together, then apply each order on its own."""

from __future__ import annotations

from common.messages import Message
from contracts.base import now
from services.dispatch import planner, repository
from services.dispatch.handlers import candidates, planning


def batch_plan(
    palace_id: str, start, end, include_accepted: bool, uow, search_seconds: float = 0.0
) -> tuple[dict, list[tuple]]:
    """Plan every open order of the period together (read only), improving the plan by the exact
    search for up to ``search_seconds`` in all. Returns a summary and, per order, what to apply:
    (order_id, choice or miss, offers to withdraw, instance)."""
    palace = candidates.palace(uow, palace_id)
    plans = [p for p in repository.open_plans(uow, palace_id, start, end) if p.get("order")]
    programs = _programs(uow, plans)
    plans = [p for p in plans if programs.get(p["order"].get("program_id"))]
    # an order with a lent troupe has people no other order may use: it is planned on its own
    on_loan = [p["order_id"] for p in plans if repository.loans_of_order(uow, p["order_id"], ("approved",))]
    plans = [p for p in plans if p["order_id"] not in on_loan]
    kept, withdraw = _kept_and_withdrawn(uow, plans, include_accepted)
    if not plans:
        return {"orders": 0, "on_loan": on_loan}, []
    skills = {n["skill"] for prog in programs.values() for n in prog["needs"]}
    lo = min(w["start"] for p in plans for w in p["order"]["windows"])
    hi = max(w["end"] for p in plans for w in p["order"]["windows"])
    ignore = {oid for ids in withdraw.values() for oid in ids}
    no_troupe = {p["order_id"] for p in plans if not kept[p["order_id"]]}
    inst = candidates.instance(
        uow, palace, skills, set(programs), lo, hi, ignore_offers=ignore, ignore_troupe_plans=no_troupe
    )
    orders, fixed = [], {}
    for p in plans:
        porder = candidates.planner_order(uow, inst, p["order"], programs[p["order"]["program_id"]])
        orders.append(porder)
        if kept[p["order_id"]] and p.get("start"):
            fixed[p["order_id"]] = _remaining_roles(inst, p, porder, kept[p["order_id"]])
    results = planner.plan_batch(
        inst, orders, explain=True, fixed=fixed, improve_seconds=search_seconds if search_seconds > 0 else None
    )
    work = [(oid, results[oid], withdraw[oid], inst) for oid in (p["order_id"] for p in plans)]
    summary = {
        "orders": len(plans),
        "planned": sum(isinstance(r, planner.Choice) for r in results.values()),
        "unfulfillable": sum(isinstance(r, planner.Miss) for r in results.values()),
        "kept_accepted": sum(len(v) for v in kept.values()),
        "on_loan": on_loan,
    }
    return summary, work


def _programs(uow, plans: list[dict]) -> dict[str, dict | None]:
    """The program of each order, read once each (None: no longer in the catalogue)."""
    programs = {}
    for p in plans:
        pid = p["order"].get("program_id")
        if pid and pid not in programs:
            programs[pid] = repository.find_program(uow, pid)
    return programs


def _kept_and_withdrawn(uow, plans: list[dict], include_accepted: bool) -> tuple[dict, dict]:
    """Per order, the accepted offers that stay (unless ``include_accepted``) and the open offers
    to withdraw."""
    withdraw: dict[str, list[str]] = {}
    kept: dict[str, list[dict]] = {}
    for p in plans:
        offers = [o for o in repository.offers_of_order(uow, p["order_id"]) if o["status"] in ("pending", "accepted")]
        keep = [o for o in offers if o["status"] == "accepted" and not include_accepted]
        kept[p["order_id"]] = keep
        withdraw[p["order_id"]] = [o["offer_id"] for o in offers if o not in keep]
    return kept, withdraw


def _remaining_roles(inst: planner.Instance, plan: dict, porder: planner.Order, kept: list[dict]) -> dict:
    """An order whose accepted offers stay keeps its slot and troupe; only the roles left are planned."""
    have: dict[str, int] = {}
    for o in kept:
        have[o["skill"]] = have.get(o["skill"], 0) + 1
    left = [(s, n - have.get(s, 0)) for s, n in porder.needs if n - have.get(s, 0) > 0]
    troupe = plan.get("troupe_id") if plan.get("troupe_id") in inst.troupe_index else None
    return {
        "fixed": (inst.bucket(plan["start"]), inst.bucket(plan["end"], ceil=True), troupe),
        "needs": left,
        "exclude": [o["volunteer_id"] for o in kept],
    }


def replan_one(order_id: str, uow, offer_hours: float | None = None) -> int:
    """Re-plan one order on its own (after the batch found its people taken meanwhile)."""
    plan = repository.plan(uow, order_id)
    if plan["status"] not in ("planning", "unfulfillable") or not plan.get("order"):
        return 0
    kept = planning.withdraw_all(plan, uow, keep_accepted=True)
    if kept:
        return 0  # accepted people stand; a decline or the dispatcher fills the rest
    asked_before = len(repository.offers_of_order(uow, order_id))
    plan["asked"] = []
    planning.plan(plan, uow, offer_hours)
    return len(repository.offers_of_order(uow, order_id)) - asked_before


def apply_batch_choice(order_id: str, result, withdraw: list[str], inst: planner.Instance, uow) -> int:
    """Apply one order's part of a re-plan in its own transaction; returns the offers made.
    The unique keys still guard: anything taken meanwhile makes this raise, and the caller then
    plans the order on its own."""
    plan = repository.plan(uow, order_id)
    if plan["status"] not in ("planning", "unfulfillable"):
        return 0  # answered, cancelled or scheduled meanwhile
    current = {
        o["offer_id"] for o in repository.offers_of_order(uow, order_id) if o["status"] in ("pending", "accepted")
    }
    for offer in repository.offers_by_ids(uow, withdraw):
        if offer["offer_id"] in current:
            planning.close_offer(uow, offer, "withdrawn", keep_answered=True, reason=Message("重新排班"))
    kept = current - set(withdraw)
    if not kept:
        planning.free_troupe(uow, plan)
    if isinstance(result, planner.Miss):
        if plan["status"] == "unfulfillable" and not kept:
            return 0
        plan["explanation"] = {"missing": result.missing, "excluded": result.excluded}
        if kept:  # accepted offers stand; the missing roles wait for the dispatcher
            plan.update(reason=result.reason(), updated_at=now())
            repository.save_plan(uow, plan)
            return 0
        planning.unfulfillable(plan, uow, "NO_CREW", result.reason())
        return 0
    plan["asked"] = [o["volunteer_id"] for o in repository.offers_of_order(uow, order_id) if o["offer_id"] in kept]
    planning.commit(plan, uow, inst, result, planning.answer_hours(uow, plan))
    return len(result.crew)
