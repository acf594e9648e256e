"""Order use cases: plain functions of (input, unit of work) that change state and emit events."""

from __future__ import annotations

import hashlib

from common.errors import Forbidden, Invalid
from contracts.base import new_id, now
from services.orders import domain, repository


def place_order(
    data: dict,
    uow,
    program_title: str | None = None,
    rules: dict | None = None,
    checked: bool = False,
    placed_by: dict | None = None,
) -> dict:
    """`rules` are the palace's time rules (defaults where missing; `urgent` is recorded on the
    order); `placed_by` who placed it. A resubmission of a placed order returns it whatever the
    time now."""
    enterprise = repository.get_enterprise(uow.db, data["enterprise_id"], uow.session)
    if data.get("client_ref"):
        placed = repository.find_by_client_ref(uow.db, data["enterprise_id"], data["client_ref"], uow.session)
        if placed:
            return placed
    if not checked:
        domain.check_windows(data["windows"], now(), rules)
    order = domain.new_order(
        new_id(),
        {**data, "enterprise_name": enterprise["name"]},
        program_title,
        now(),
        urgent=domain.time_rules(rules)["urgent"],
        placed_by=placed_by,
    )
    repository.insert(uow, order)
    uow.emit("order_placed", **domain.snapshot(order))
    return order


def place_recurring(
    data: dict, uow, program_title: str | None = None, rules: dict | None = None, placed_by: dict | None = None
) -> list[dict]:
    """Place every order of a series at once. Each occurrence has a reference derived from the
    series, so sending the same series again returns the orders already placed."""
    try:
        windows = domain.occurrences(data["first_window"], data["rrule"])
    except ValueError as err:  # the message of a rule that cannot be read (domain.occurrences)
        raise Invalid("重复规则有误。", fields={"rrule": [err.args[0] if err.args else str(err)]}) from None
    series = (
        data.get("series_ref")
        or hashlib.sha256(
            "|".join(
                str(data.get(k)) for k in ("enterprise_id", "program_id", "custom_request", "site_address", "rrule")
            ).encode()
            + data["first_window"]["start"].isoformat().encode()
        ).hexdigest()[:24]
    )
    base = {k: v for k, v in data.items() if k not in ("first_window", "rrule", "series_ref")}
    if not repository.find_by_client_ref(uow.db, data["enterprise_id"], f"{series}-01", uow.session):
        domain.check_windows(windows, now(), rules, series=True)  # sent again: the series stands as placed
    return [
        place_order(
            {**base, "windows": [w], "client_ref": f"{series}-{n:02d}", "series_id": series},
            uow,
            program_title,
            {"urgent": domain.time_rules(rules)["urgent"]},
            checked=True,
            placed_by=placed_by,
        )
        for n, w in enumerate(windows, 1)
    ]


def amend_order(
    order_id: str,
    changes: dict,
    uow,
    program_title: str | None = None,
    enterprise_id: str | None = None,
    rules: dict | None = None,
) -> dict:
    order = _own(repository.get(uow.db, order_id, uow.session), enterprise_id)
    if "windows" in changes:
        domain.check_windows(changes["windows"], now(), rules)
    updated, changed = domain.amend(order, changes, now(), program_title)
    if changed:
        repository.save(uow, updated)
        uow.emit("order_amended", changed=changed, **domain.snapshot(updated))
    return updated


def cancel_order(order_id: str, reason: str | None, uow, enterprise_id: str | None = None) -> dict:
    order = _own(repository.get(uow.db, order_id, uow.session), enterprise_id)
    previous = order["status"]
    updated = domain.move(order, "cancelled", now(), reason)
    repository.save(uow, updated)
    uow.emit(
        "order_cancelled",
        order_id=order_id,
        palace_id=order["palace_id"],
        enterprise_id=order["enterprise_id"],
        previous_status=previous,
        reason=reason,
    )
    return updated


def accept_order(
    order_id: str, data: dict, uow, palace_id: str | None = None, program_title: str | None = None
) -> dict:
    order = _in_palace(repository.get(uow.db, order_id, uow.session), palace_id)
    updated = domain.move(order, "accepted", now(), data.get("note"))
    if data.get("program_id"):
        updated["program_id"] = data["program_id"]
        updated["program_title"] = program_title
    repository.save(uow, updated)
    uow.emit("order_accepted", note=data.get("note"), **domain.snapshot(updated))
    return updated


def reject_order(order_id: str, reason: str, uow, palace_id: str | None = None) -> dict:
    order = _in_palace(repository.get(uow.db, order_id, uow.session), palace_id)
    updated = domain.move(order, "rejected", now(), reason)
    repository.save(uow, updated)
    uow.emit(
        "order_rejected",
        order_id=order_id,
        palace_id=order["palace_id"],
        enterprise_id=order["enterprise_id"],
        reason=reason,
    )
    return updated


def confirm_delivery(order_id: str, uow, enterprise_id: str | None = None) -> dict:
    order = _own(repository.get(uow.db, order_id, uow.session), enterprise_id)
    if order["status"] not in ("delivered", "closed"):
        raise domain.illegal(
            "订单状态为「{status}」，服务完成后才能确认。",
            "NOT_DELIVERED",
            params={"status": domain.status_label(order["status"])},
        )
    if not order.get("delivery_confirmed_at"):
        order = {**order, "delivery_confirmed_at": now(), "updated_at": now()}
        repository.save(uow, order)
    return order


# -------------------------------------------------------------- reactions to other services


def on_order_scheduled(event: dict, uow) -> None:
    order = repository.find(uow.db, event["order_id"], uow.session)
    if order is None or order["status"] != "accepted":
        return  # cancelled or re-planned meanwhile: dispatch hears of it through our events
    updated = domain.move(order, "scheduled", event["occurred_at"])
    updated.update(scheduled_start=event["start"], scheduled_end=event["end"], troupe_id=event.get("troupe_id"))
    repository.save(uow, updated)


def on_order_unfulfillable(event: dict, uow) -> None:
    order = repository.find(uow.db, event["order_id"], uow.session)
    if order is None or order["status"] != "accepted":
        return
    repository.save(uow, domain.move(order, "unfulfillable", event["occurred_at"], event["reason"]))


class NotYet(Exception):
    """An event overtook the one it follows; the consumer retries it."""


def on_delivery_completed(event: dict, uow) -> None:
    order = repository.find(uow.db, event["order_id"], uow.session)
    if order is None or order["status"] in ("delivered", "closed"):
        return
    if order["status"] == "accepted":
        raise NotYet("order_scheduled not handled yet")
    updated = domain.move(order, "delivered", event["completed_at"])
    updated["people_served"] = event["people_served"]
    repository.save(uow, updated)


def on_survey_closed(event: dict, uow) -> None:
    order = repository.find(uow.db, event["order_id"], uow.session)
    if order is None or order["status"] == "closed":
        return
    if order["status"] in ("accepted", "scheduled"):
        raise NotYet("delivery_completed not handled yet")
    updated = domain.move(order, "closed", event["occurred_at"])
    updated.update(satisfaction=event.get("satisfaction"), responses=event["responses"])
    repository.save(uow, updated)
    uow.emit(
        "order_closed",
        order_id=order["order_id"],
        palace_id=order["palace_id"],
        enterprise_id=order["enterprise_id"],
        satisfaction=updated["satisfaction"],
        responses=updated["responses"],
    )


def _own(order: dict, enterprise_id: str | None) -> dict:
    if enterprise_id and order["enterprise_id"] != enterprise_id:
        raise Forbidden("这不是贵单位的订单。", "NOT_YOUR_ORDER")
    return order


def _in_palace(order: dict, palace_id: str | None) -> dict:
    if palace_id and order["palace_id"] != palace_id:
        raise Forbidden("这个订单不属于您所在的文化宫。", "NOT_YOUR_PALACE")
    return order
