"""What dispatch does when the orders service says an order was accepted, amended or cancelled."""

from __future__ import annotations

from contracts.base import now
from services.dispatch import domain, repository
from services.dispatch.handlers import alliance, planning


def on_order_accepted(event: dict, uow, offer_hours: float | None = None) -> None:
    plan = repository.find_plan(uow, event["order_id"])
    if plan and plan["status"] not in ("unfulfillable",):
        return  # already planned, or cancelled before this event arrived
    order = {k: event[k] for k in domain.ORDER_FIELDS}
    planning.plan(domain.new_plan(order, now()), uow, offer_hours)


def on_order_amended(event: dict, uow, offer_hours: float | None = None) -> None:
    plan = repository.find_plan(uow, event["order_id"])
    if plan is None or plan["status"] not in ("planning", "unfulfillable"):
        return
    planning.withdraw_all(plan, uow)
    order = {**plan["order"], **{k: event[k] for k in plan["order"] if k in event}}
    planning.plan(domain.new_plan(order, now()), uow, offer_hours)


def on_order_cancelled(event: dict, uow) -> None:
    plan = repository.find_plan(uow, event["order_id"])
    if plan is None:  # cancelled before dispatch heard of it: leave a tombstone
        plan = {"order_id": event["order_id"], "palace_id": event["palace_id"], "order": None, "created_at": now()}
    elif plan["status"] in ("delivered", "cancelled"):
        return
    else:
        planning.withdraw_all(plan, uow)
    plan.update(status="cancelled", reason=event.get("reason"), updated_at=now())
    repository.save_plan(uow, plan)
    for loan in repository.loans_of_order(uow, event["order_id"]):
        alliance.end_loan(uow, loan, "order_cancelled")
