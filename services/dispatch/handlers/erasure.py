"""A volunteer erased (``person_erased``): the deliveries to come that counted on them are handed
to others first, by the path a no-show takes (the best-ranked free volunteer is asked; nobody
free: the role is marked uncovered for the dispatcher), then their record keeps only what the
counts need. What they served stays, under their id, so hours and deliveries still add up."""

from __future__ import annotations

import datetime as dt

from common.errors import Message
from common.personal import ERASED
from contracts.base import now
from services.dispatch import repository
from services.dispatch.handlers import answers, planning

OPEN_PLANS = ("planning", "scheduled")


def identifiers(db, volunteer_id: str) -> dict:
    """What dispatch holds that says who a volunteer is (for accounts to erase everywhere)."""
    doc = db.volunteers.find_one({"_id": volunteer_id}) or {}
    return {k: doc.get(k) for k in ("name", "phone", "union_card") if isinstance(doc.get(k), str) and doc.get(k)}


def on_person_erased(event: dict, uow) -> dict:
    volunteer_id = event.get("volunteer_id")
    replaced = 0
    if volunteer_id:
        # no longer anyone's candidate, before anyone is asked in their place
        repository.anonymise_volunteer(uow, volunteer_id, ERASED)
        replaced = _replace(uow, volunteer_id)
    return {"replaced": replaced}


def _replace(uow, volunteer_id: str) -> int:
    at, replaced = now(), 0
    for offer in repository.open_offers_of_volunteer(uow, volunteer_id):
        plan = repository.find_plan(uow, offer["order_id"])
        if plan is None or plan["status"] not in OPEN_PLANS or plan.get("start") and _aware(plan["start"]) <= at:
            continue  # a delivery under way or done stays as it was
        planning.close_offer(uow, offer, "withdrawn", keep_answered=True, reason=Message("志愿者已注销账号"))
        if plan["status"] == "scheduled":
            answers.cover(plan, uow, offer["skill"], offer["offer_id"])
        else:
            answers.next_candidate(plan, offer, uow)
        replaced += 1
    return replaced


def _aware(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)
