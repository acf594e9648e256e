"""The alliance of palaces (队伍联用): palaces share troupes, and lend one to another palace's
order when the owning palace approves."""

from __future__ import annotations

from common.errors import Conflict, Forbidden
from contracts.base import new_id, now
from services.dispatch import domain, repository
from services.dispatch.handlers import planning


def create_alliance(name: str, palace_ids: list[str], uow) -> dict:
    """Palaces form an alliance; a palace is in one alliance at most."""
    palace_ids = sorted(set(palace_ids))
    if len(palace_ids) < 2:
        raise Conflict("联盟至少要有两家文化宫。", "ALLIANCE_TOO_SMALL")
    for pid in palace_ids:
        repository.palace(uow, pid)
    taken = repository.palaces_in_alliances(uow, palace_ids)
    if taken:
        names = "、".join(taken)
        raise Conflict("这些文化宫已经在别的联盟里：{names}。", "ALREADY_IN_ALLIANCE", params={"names": names})
    alliance = domain.new_alliance(new_id(), name, palace_ids, now())
    repository.insert_alliance(uow, alliance)
    uow.emit("alliance_created", alliance_id=alliance["alliance_id"], name=name, palace_ids=palace_ids)
    return alliance


def share_troupe(troupe_id: str, shared: bool, uow) -> dict:
    """The owning palace shares a troupe with its alliance, or stops sharing it."""
    troupe = repository.troupe(uow, troupe_id)
    alliance = repository.alliance_of(uow, troupe["palace_id"])
    if shared and alliance is None:
        raise Conflict("本文化宫还没有加入文化宫联盟，不能共享队伍。", "NO_ALLIANCE")
    if bool(troupe.get("shared")) != shared:
        repository.set_shared(uow, troupe_id, shared)
        uow.emit(
            "troupe_sharing_changed",
            troupe_id=troupe_id,
            palace_id=troupe["palace_id"],
            alliance_id=alliance["alliance_id"] if alliance else None,
            shared=shared,
        )
    return {**troupe, "shared": shared}


def shared_troupes(palace_id: str | None, alliance_id: str | None, uow) -> list[dict]:
    """The troupes shared in a palace's alliance (or a named alliance): names, repertoire and
    how many members have each skill; never a member's name or phone number."""
    if alliance_id:
        alliance = repository.alliance(uow, alliance_id)
    else:
        alliance = repository.alliance_of(uow, palace_id) if palace_id else None
    if alliance is None:
        return []
    troupes = repository.shared_troupes(uow, alliance["palace_ids"])
    members = {
        v["volunteer_id"]: v
        for v in repository.volunteers_by_ids(uow, [m for t in troupes for m in t.get("members") or []])
    }
    palaces = {p["palace_id"]: p for p in repository.palaces_by_ids(uow, alliance["palace_ids"])}
    titles = {
        p["program_id"]: p["title"]
        for p in repository.programs_by_ids(uow, [r for t in troupes for r in t.get("repertoire") or []])
    }
    return [
        domain.shared_troupe_view(
            t, [members[m] for m in t.get("members") or [] if m in members], palaces.get(t["palace_id"]), titles
        )
        for t in troupes
    ]


def request_loan(order_id: str, troupe_id: str, note: str | None, palace_id: str, by: str, uow) -> dict:
    """A member palace asks to borrow an allied troupe for one of its orders; the owner decides."""
    plan = repository.plan(uow, order_id)
    if plan["palace_id"] != palace_id:
        raise Forbidden("这个订单不归您管理。", "NOT_YOUR_ORDER")
    if plan["status"] not in ("planning", "unfulfillable") or not plan.get("order"):
        raise Conflict("只有还在派单的订单才能申请借用队伍。", "ORDER_NOT_OPEN")
    troupe = repository.troupe(uow, troupe_id)
    if troupe["palace_id"] == palace_id:
        raise Conflict("这是本文化宫自己的队伍，不用借用。", "OWN_TROUPE")
    alliance = repository.alliance_of(uow, palace_id)
    if alliance is None or troupe["palace_id"] not in alliance["palace_ids"] or not troupe.get("shared"):
        raise Forbidden("这支队伍没有向本联盟共享。", "NOT_SHARED")
    if any(x["troupe_id"] == troupe_id for x in repository.loans_of_order(uow, order_id)):
        raise Conflict("这个订单已经申请过借用这支队伍了。", "LOAN_EXISTS")
    at = now()
    first = plan.get("first_start") or min(w["start"] for w in plan["order"]["windows"])
    if first <= at:
        raise Conflict("订单的服务时间已经开始，不能再申请借用。", "ORDER_STARTED")
    loan = domain.new_loan(new_id(), plan, troupe, alliance, palace_id, note, by, at, first)
    repository.insert_loan(uow, loan)
    uow.emit("troupe_loan_requested", requested_by=by, note=note, **domain.loan_event(loan))
    return loan


def decide_loan(
    loan_id: str, verdict: str, reason: str | None, owner_palace_id: str | None, by: str, uow, offer_hours=None
) -> dict:
    """The owning palace approves or refuses. Approved, an order nobody could staff is planned
    again at once with the lent troupe and its members among the candidates."""
    loan = repository.loan(uow, loan_id)
    if owner_palace_id is not None and loan["owner_palace_id"] != owner_palace_id:
        raise Forbidden("只有队伍所属文化宫的调度员才能答复借用申请。", "NOT_OWNER")
    try:
        loan = domain.decide_loan(loan, verdict, by, now(), reason)
    except domain.LoanError as err:
        raise Conflict(err.message, err.code) from None
    repository.save_loan(uow, loan)
    if verdict == "refused":
        uow.emit("troupe_loan_refused", decided_by=by, reason=reason, **domain.loan_event(loan))
        return loan
    uow.emit("troupe_loan_approved", decided_by=by, **domain.loan_event(loan))
    plan = repository.find_plan(uow, loan["order_id"])
    if plan and plan["status"] == "unfulfillable" and plan.get("order"):
        planning.plan(domain.new_plan(plan["order"], now()), uow, offer_hours)
    return loan


def end_loan(uow, loan: dict, cause: str) -> None:
    """An open loan ends: its request expired, or its order was cancelled."""
    ended = domain.end_loan(loan, cause, now())
    if ended is None:
        return
    repository.save_loan(uow, ended)
    uow.emit("troupe_loan_ended", cause=cause, previous_status=loan["status"], **domain.loan_event(ended))


def expire_loan(loan_id: str, uow) -> None:
    loan = repository.loan(uow, loan_id)
    if loan["status"] == "pending" and loan["expires_at"] <= now():
        end_loan(uow, loan, "expired")
