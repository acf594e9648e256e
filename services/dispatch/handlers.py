"""Dispatch use cases: plain functions of (input, unit of work) that change state and emit events."""

from __future__ import annotations

import datetime as dt
import math

from common.config import DEFAULTS
from common.errors import Conflict, Forbidden, Invalid
from contracts.base import new_id, now
from services.dispatch import domain, planner, repository
from services.dispatch.planner import CN

DEFAULT_OFFER_HOURS = DEFAULTS["OFFER_HOURS"]
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
    for loan in repository.loans_of_order(uow.db, event["order_id"], session=uow.session):
        _end_loan(uow, loan, "order_cancelled")


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
        "first_start": min(w["start"] for w in order["windows"]) if order.get("windows") else None,
        "explanation": None,
        "troupe_load_key": None,
        "grants": [],
        "created_at": at,
        "updated_at": at,
    }


# -------------------------------------------------------------- the planner's view of the database


def _palace(uow, palace_id: str) -> dict:
    return repository.find(uow.db, "palaces", palace_id, uow.session) or {"palace_id": palace_id}


# An online plan reads the held time and loads of at most this many candidates per skill, those
# most likely to be chosen; only when they cannot staff the order are all the others read too.
# So a new order costs the same in a palace of 50 volunteers and of 5,000.
SHORTLIST = 40


def _aware(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def _shortlist(
    uow, volunteers: list[dict], skills: set[str], palace: dict, order: dict, program_id: str | None, lo, hi
):
    """Per skill, the ``SHORTLIST`` candidates ranked first by what the volunteer's own record
    tells: free at some time of the order's windows, in a troupe that plays the program, nearest
    to the site. Everyone when there are no more than that."""
    if all(sum(1 for v in volunteers if s in (v.get("skills") or ())) <= SHORTLIST for s in skills):
        return volunteers
    troupes = repository.troupes_playing(uow, palace["palace_id"], [program_id]) if program_id else []
    members = {m for t in troupes for m in t.get("members") or ()}
    districts = {d["name"]: (d["lat"], d["lon"]) for d in palace.get("districts") or []}
    site = districts.get(order.get("district"))

    def rank(v: dict):
        free = any(_aware(w["start"]) < hi and _aware(w["end"]) > lo for w in v.get("availability") or ())
        plays = v["volunteer_id"] in members
        km = planner.km_between(districts.get(v.get("district")), site)
        return (not free, not plays, km if km is not None else math.inf, v["volunteer_id"])

    kept: dict[str, dict] = {}
    for skill in sorted(skills):
        having = sorted((v for v in volunteers if skill in (v.get("skills") or ())), key=rank)
        for v in having[:SHORTLIST]:
            kept[v["volunteer_id"]] = v
    return list(kept.values())


def _instance(
    uow,
    palace: dict,
    skills: set[str],
    program_ids: set[str],
    lo,
    hi,
    *,
    volunteers=None,
    ignore_offers: set[str] = frozenset(),
    ignore_troupe_plans: set[str] = frozenset(),
    lent: tuple[list[dict], list[dict]] = ((), ()),
) -> planner.Instance:
    """The volunteers who could serve, with their held time and loads, between lo and hi.

    ``ignore_offers`` are offers about to be withdrawn (a re-plan): their time and load count as free.
    ``lent`` are troupes another palace of the alliance lent to the order, and their members:
    their held time and loads are read like everyone's, so the hard rules hold across palaces.
    """
    rules = planner.Rules.of(palace)
    origin = dt.datetime.combine((lo - dt.timedelta(hours=1)).astimezone(CN).date(), dt.time(0), CN).astimezone(dt.UTC)
    days = max(1, math.ceil((hi + dt.timedelta(hours=1) - origin).total_seconds() / 86400))
    if volunteers is None:
        volunteers = repository.volunteers_with(uow, palace["palace_id"], sorted(skills))
    troupes = repository.troupes_playing(uow, palace["palace_id"], sorted(program_ids)) if program_ids else []
    volunteers, troupes = domain.with_lent(volunteers, troupes, list(lent[0]), list(lent[1]))
    districts = {d["name"]: (d["lat"], d["lon"]) for d in palace.get("districts") or []}
    inst = planner.Instance(rules, origin, days, volunteers, troupes, districts)
    vids = inst.ids
    base = domain.buckets(origin, origin + dt.timedelta(minutes=1)).start
    held = repository.held_buckets(uow, vids, origin, origin + dt.timedelta(days=days), ignore_offers)
    for vid, bs in held.items():
        inst.hold_buckets(inst.index[vid], [b - base for b in bs])
    weeks = [_week(k) for k in inst.week_keys]
    months = [_month(k) for k in inst.month_keys]
    troupe_keys = [f"t:{t}:{k}" for t in inst.troupe_ids for k in weeks]
    counts = repository.loads(uow, [f"v:{v}:{k}" for v in vids for k in weeks + months] + troupe_keys)
    if ignore_offers:
        for offer in repository.offers_by_ids(uow, sorted(ignore_offers)):
            for key, amount in offer.get("load_keys") or []:
                if key in counts:
                    counts[key] -= amount
    for v in vids:
        inst.set_loads(
            inst.index[v],
            {wk: counts.get(f"v:{v}:{_week(wk)}", 0) for wk in inst.week_keys},
            {mk: counts.get(f"v:{v}:{_month(mk)}", 0) for mk in inst.month_keys},
        )
    tcounts = {k: counts[k] for k in troupe_keys if k in counts}
    if ignore_troupe_plans:
        for plan in ignore_troupe_plans:
            key = (repository.find(uow.db, "plans", plan, uow.session) or {}).get("troupe_load_key")
            if key in tcounts:
                tcounts[key] -= 1
    for j, t in enumerate(inst.troupe_ids):
        inst.set_troupe_load(j, {wk: tcounts.get(f"t:{t}:{_week(wk)}", 0) for wk in inst.week_keys})
    return inst


def _week(key: tuple[int, int]) -> str:
    return f"{key[0]}-W{key[1]:02d}"


def _month(key: tuple[int, int]) -> str:
    return f"{key[0]}-{key[1]:02d}"


def _unserved_days(uow, order: dict) -> tuple[float | None, float | None]:
    """Days since this enterprise and since this district were last served (None: never)."""
    keys = [f"e:{order['enterprise_id']}", f"d:{order['palace_id']}:{order['district']}"]
    seen = repository.last_served(uow, keys)
    at = now()
    enterprise, district = ((at - seen[k]).total_seconds() / 86400 if k in seen else None for k in keys)
    return enterprise, district


def _underserved(days: tuple[float | None, float | None]) -> float:
    """How long since this enterprise and this district were last served (0 = today, 1 = never)."""
    return round(0.5 * planner.underserved(days[0]) + 0.5 * planner.underserved(days[1]), 4)


def _planner_order(uow, inst: planner.Instance, order: dict, program: dict, lent: list[str] = ()) -> planner.Order:
    """The order for the planner; a troupe lent to it may play it, whatever its own catalogue says."""
    troupes = [t for t in inst.troupe_ids if order.get("program_id") in (_troupe_repertoire(inst, t)) or t in lent]
    days = _unserved_days(uow, order)
    return planner.make_order(inst, order, program, troupes, _underserved(days), days)


def _lent(uow, order_id: str, skills: set[str]) -> tuple[list[dict], list[dict]]:
    """The troupes lent to an order (approved loans) and those of their members with a needed skill."""
    loans = repository.loans_of_order(uow.db, order_id, ("approved",), uow.session)
    troupes = repository.by_ids(uow.db, "troupes", domain.lent_for(loans, order_id), uow.session)
    members = repository.by_ids(uow.db, "volunteers", [m for t in troupes for m in t.get("members") or []], uow.session)
    return troupes, [v for v in members if skills & set(v.get("skills") or ())]


def _alliance_troupes(uow, palace_id: str, program: dict) -> list[dict]:
    """Shared troupes of the alliance's other palaces with members who have a skill the program
    needs: what a dispatcher could ask to borrow when the own palace cannot staff an order."""
    alliance = repository.alliance_of(uow.db, palace_id, uow.session)
    if alliance is None:
        return []
    others = [p for p in alliance["palace_ids"] if p != palace_id]
    troupes = repository.shared_troupes(uow.db, others, uow.session)
    members = repository.by_ids(uow.db, "volunteers", [m for t in troupes for m in t.get("members") or []], uow.session)
    skills_of = {v["volunteer_id"]: v for v in members}
    needed = {n["skill"] for n in program.get("needs") or []}
    out = []
    for t in troupes:
        counts = domain.skill_counts([skills_of[m] for m in t.get("members") or [] if m in skills_of])
        useful = {s: n for s, n in counts.items() if s in needed}
        if useful:
            out.append({"troupe_id": t["troupe_id"], "name": t["name"], "palace_id": t["palace_id"], "skills": useful})
    return out


def _troupe_repertoire(inst: planner.Instance, troupe_id: str) -> list[str]:
    return inst.troupe_docs[troupe_id].get("repertoire") or []


def _plan(plan: dict, uow, offer_hours: float | None) -> None:
    order = plan["order"]
    repository.planning_turn(uow, order["palace_id"])
    if not order.get("program_id"):
        return _unfulfillable(plan, uow, "NO_PROGRAM", "自定义需求需要调度员先指定一个节目，才能派单。")
    program = repository.find(uow.db, "programs", order["program_id"], uow.session)
    if program is None:
        return _unfulfillable(plan, uow, "NO_PROGRAM", "节目目录里没有这个节目。")
    palace = _palace(uow, order["palace_id"])
    lo = min(w["start"] for w in order["windows"])
    hi = max(w["end"] for w in order["windows"])
    skills = {n["skill"] for n in program["needs"]}
    lent = _lent(uow, order["order_id"], skills)
    everyone = repository.volunteers_with(uow, palace["palace_id"], sorted(skills))
    first = _shortlist(uow, everyone, skills, palace, order, program["program_id"], lo, hi)
    inst = _instance(uow, palace, skills, {program["program_id"]}, lo, hi, volunteers=first, lent=lent)
    porder = _planner_order(uow, inst, order, program, [t["troupe_id"] for t in lent[0]])
    choice = planner.plan_order(inst, porder, explain=True)
    if isinstance(choice, planner.Miss) and len(first) < len(everyone):  # the shortlist cannot: all of them
        inst = _instance(uow, palace, skills, {program["program_id"]}, lo, hi, volunteers=everyone, lent=lent)
        porder = _planner_order(uow, inst, order, program, [t["troupe_id"] for t in lent[0]])
        choice = planner.plan_order(inst, porder, explain=True)
    plan.update(needs=program["needs"], program_title=program["title"], duration_minutes=program["duration_minutes"])
    if isinstance(choice, planner.Miss):
        plan["explanation"] = {"missing": choice.missing, "excluded": choice.excluded}
        allied = _alliance_troupes(uow, order["palace_id"], program)
        reason = choice.reason()
        if allied:
            plan["explanation"]["alliance_troupes"] = allied
            names = "、".join(t["name"] for t in allied[:5])
            reason += f"联盟共享队伍「{names}」有合适的人员，可以申请借用。"
        return _unfulfillable(plan, uow, "NO_CREW", reason)
    _commit(plan, uow, inst, choice, _offer_hours(uow, order["palace_id"], offer_hours, palace))


class _Holds:
    """What a plan holds (offers, booked time, counted loads), written at the end in three
    statements rather than four or five per offer: a palace plans one order at a time, and each
    statement is a round trip to a busy database inside that turn."""

    def __init__(self):
        self.offers: list[dict] = []
        self.loads: list[tuple[str, int, int]] = []

    def write(self, uow) -> None:
        repository.insert_offer(uow, *self.offers)
        repository.book(uow, *self.offers)  # the unique key refuses a double booking or a short rest
        repository.take_loads(uow, self.loads)
        self.offers, self.loads = [], []


def _commit(plan: dict, uow, inst: planner.Instance, choice: planner.Choice, hours: float, kind: str = "plan") -> None:
    """Hold the troupe's week and make one offer per chosen volunteer, each with its reasons."""
    plan.update(
        troupe_id=choice.troupe,
        start=inst.time(choice.start),
        end=inst.time(choice.end),
        reserves={s: [inst.ids[i] for i in r] for s, r in choice.reserves.items()},
        explanation=choice.explanation,
        pad_minutes=inst.rules.half_gap * planner.BUCKET_MINUTES,
        reason=None,
    )
    holds = _Holds()
    if choice.troupe is not None and not plan.get("troupe_load_key"):
        key = f"t:{choice.troupe}:{repository.week_key(plan['start'])}"
        holds.loads.append((key, 1, int(inst.troupe_limit[inst.troupe_index[choice.troupe]])))
        plan["troupe_load_key"] = key
    roles = {r["skill"]: r for r in (choice.explanation or {}).get("roles", [])}
    ranks: dict[str, int] = {}
    for i, skill, _parts in choice.crew:
        ranks[skill] = ranks.get(skill, 0) + 1
        vid = inst.ids[i]
        role = roles.get(skill) or {}
        mine = next((c for c in role.get("chosen", []) if c["volunteer_id"] == vid), None)
        explanation = {"score": mine, "runners_up": role.get("runners_up", []), "excluded": role.get("excluded", {})}
        _offer(plan, uow, inst, i, skill, ranks[skill], hours, kind=kind, explanation=explanation, holds=holds)
    holds.write(uow)
    plan["status"] = "planning"
    plan["updated_at"] = now()
    repository.save_plan(uow, plan)


def _offer_hours(uow, palace_id: str, default: float | None = None, palace: dict | None = None) -> float:
    """How long a volunteer has to answer: the palace's setting (``palace`` when already read),
    else the deployment's."""
    if palace is None:
        palace = repository.find(uow.db, "palaces", palace_id, uow.session)
    return float((palace or {}).get("offer_hours") or default or DEFAULT_OFFER_HOURS)


def _offer(
    plan: dict,
    uow,
    inst: planner.Instance,
    i: int,
    skill: str,
    rank: int,
    hours: float,
    *,
    kind: str = "plan",
    explanation: dict | None = None,
    replaces: str | None = None,
    holds: _Holds | None = None,
) -> dict:
    """Offer a role to volunteer i of the instance: hold the time (unique key), count the week's
    deliveries and the month's minutes against the limits, and tell the volunteer."""
    order = plan["order"]
    vid = inst.ids[i]
    minutes = round((plan["end"] - plan["start"]).total_seconds() / 60)
    deadline = min(now() + dt.timedelta(hours=hours), max(plan["start"], now() + dt.timedelta(minutes=30)))
    offer = {
        "offer_id": new_id(),
        "order_id": plan["order_id"],
        "palace_id": plan["palace_id"],
        "volunteer_id": vid,
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
            [f"v:{vid}:{repository.week_key(plan['start'])}", 1],
            [f"v:{vid}:{repository.month_key(plan['start'])}", minutes],
        ],
        "created_at": now(),
        "answered_at": None,
    }
    mine = holds or _Holds()
    mine.offers.append(offer)
    mine.loads.append((offer["load_keys"][0][0], 1, int(inst.week_limit[i])))
    mine.loads.append((offer["load_keys"][1][0], minutes, int(inst.month_limit[i])))
    if holds is None:
        mine.write(uow)
    plan["asked"] = [*plan.get("asked", []), vid]
    uow.emit(
        "offer_made",
        offer_id=offer["offer_id"],
        order_id=offer["order_id"],
        palace_id=offer["palace_id"],
        volunteer_id=vid,
        skill=skill,
        start=offer["start"],
        end=offer["end"],
        deadline=offer["deadline"],
        rank=rank,
        troupe_id=offer["troupe_id"],
        kind=kind,
        replaces_offer_id=replaces,
    )
    return offer


def _free(uow, offer: dict) -> None:
    """Give back what an offer held: its time and its counts."""
    repository.release(uow, offer["offer_id"])
    for key, amount in offer.get("load_keys") or []:
        repository.give_load(uow, key, amount)
    offer["load_keys"] = []


def _free_troupe(uow, plan: dict) -> None:
    if plan.get("troupe_load_key"):
        repository.give_load(uow, plan["troupe_load_key"], 1)
        plan["troupe_load_key"] = None


def _unfulfillable(plan: dict, uow, code: str, reason: str) -> None:
    plan.update(status="unfulfillable", reason=reason, updated_at=now())
    repository.save_plan(uow, plan)
    uow.emit("order_unfulfillable", order_id=plan["order_id"], palace_id=plan["palace_id"], code=code, reason=reason)


def _withdraw_all(plan: dict, uow, *, keep_accepted: bool = False) -> list[dict]:
    """Withdraw the order's open offers (and the accepted ones unless kept); returns those kept."""
    kept = []
    for offer in repository.offers_of_order(uow.db, plan["order_id"], uow.session):
        if keep_accepted and offer["status"] == "accepted":
            kept.append(offer)
        elif offer["status"] in ("pending", "accepted"):
            offer.update(status="withdrawn", answered_at=offer.get("answered_at") or now())
            _free(uow, offer)
            repository.save_offer(uow, offer)
    if not kept:
        _free_troupe(uow, plan)
    return kept


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
    current = repository.get(uow.db, "offers", offer_id, uow.session)
    if current["status"] == "accepted" and current["volunteer_id"] == volunteer_id:
        return current  # the same answer again (a phone retrying after a lost reply) changes nothing
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
    if offer.get("kind") == "swap" and offer.get("replaces_offer_id"):
        _hand_over(uow, plan, offer)
    accepted = _crew(uow, plan)
    # Every acceptance writes the plan, so two members accepting at the same moment conflict
    # and one is retried: each alone would see only its own acceptance and never the crew.
    plan["updated_at"] = now()
    if plan["status"] == "planning" and domain.covered(plan["needs"], [o["skill"] for o in accepted]):
        plan.update(status="scheduled", sign_in_code=domain.sign_in_code())
        repository.save_plan(uow, plan)
        uow.emit(
            "order_scheduled",
            order_id=plan["order_id"],
            palace_id=plan["palace_id"],
            program_title=plan.get("program_title"),
            troupe_id=plan["troupe_id"],
            start=plan["start"],
            end=plan["end"],
            crew=[{"volunteer_id": o["volunteer_id"], "skill": o["skill"]} for o in accepted],
        )
    else:
        repository.save_plan(uow, plan)
    return offer


def _hand_over(uow, plan: dict, offer: dict) -> None:
    """The colleague accepted: the original assignment is handed over and its time freed."""
    original = repository.get(uow.db, "offers", offer["replaces_offer_id"], uow.session)
    if original["status"] != "accepted":
        raise Conflict("原来的任务已经不在了，不能再转交。", "SWAP_STALE")
    original.update(status="handed_over", reason=f"转交给 {offer['volunteer_id']}", answered_at=now())
    _free(uow, original)
    repository.save_offer(uow, original)
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
    offer = _pending_offer(uow, offer_id, volunteer_id)
    offer.update(status="expired" if expired else "declined", reason=reason, answered_at=now())
    _free(uow, offer)
    repository.save_offer(uow, offer)
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
    if offer.get("kind") == "swap":
        return offer  # the hand-over did not happen; the original assignment stands
    if plan["status"] == "planning":
        _next_candidate(plan, offer, uow)
    elif plan["status"] == "scheduled" and offer.get("kind") == "cover":
        _cover(plan, uow, offer["skill"], offer.get("replaces_offer_id"))
    return offer


def _candidate(uow, plan: dict, skill: str, *, only: str | None = None) -> tuple[planner.Instance, object]:
    """The best volunteer still free for one role of a planned order (its slot and troupe fixed),
    or why nobody (or ``only``) can take it. Everyone already asked is left out. The shortlist of
    those not yet asked is tried first, everyone only when nobody on it can."""
    palace = _palace(uow, plan["palace_id"])
    program = repository.find(uow.db, "programs", plan["order"].get("program_id") or "", uow.session) or {}
    lent = _lent(uow, plan["order_id"], {skill})
    taken = set(plan.get("asked", [])) | {o["volunteer_id"] for o in _crew(uow, plan)}
    if only is not None:
        volunteer = repository.get(uow.db, "volunteers", only, uow.session)
        if volunteer["palace_id"] != plan["palace_id"] and only not in {v["volunteer_id"] for v in lent[1]}:
            raise Forbidden("这位志愿者不属于本文化宫。", "OTHER_PALACE")
        if skill not in (volunteer.get("skills") or []):
            raise Conflict(f"这位志愿者没有登记「{skill}」这项技能。", "NO_SUCH_SKILL")
        taken.discard(only)
        if only in {o["volunteer_id"] for o in _crew(uow, plan)}:
            raise Conflict("这位志愿者已经在这次服务的名单里。", "ALREADY_IN_CREW")
        return _candidate_among(uow, plan, palace, program, skill, [volunteer], (lent[0], []), taken)
    everyone = repository.volunteers_with(uow, palace["palace_id"], [skill])
    fresh = [v for v in everyone if v["volunteer_id"] not in taken]
    first = _shortlist(
        uow, fresh, {skill}, palace, plan["order"], program.get("program_id"), plan["start"], plan["end"]
    )
    inst, choice = _candidate_among(uow, plan, palace, program, skill, first, lent, taken)
    if isinstance(choice, planner.Miss) and len(first) < len(everyone):
        inst, choice = _candidate_among(uow, plan, palace, program, skill, everyone, lent, taken)
    return inst, choice


def _candidate_among(
    uow, plan: dict, palace: dict, program: dict, skill: str, volunteers: list[dict], lent, taken: set[str]
) -> tuple[planner.Instance, object]:
    inst = _instance(
        uow,
        palace,
        {skill},
        {program.get("program_id")} - {None},
        plan["start"],
        plan["end"],
        volunteers=volunteers,
        lent=lent,
    )
    porder = _planner_order(
        uow,
        inst,
        plan["order"],
        {
            **program,
            "duration_minutes": plan.get("duration_minutes") or program.get("duration_minutes") or 60,
            "needs": [{"skill": skill, "count": 1}],
        },
        [t["troupe_id"] for t in lent[0]],
    )
    slot = (inst.bucket(plan["start"]), inst.bucket(plan["end"], ceil=True), plan.get("troupe_id"))
    if slot[2] is not None and slot[2] not in inst.troupe_index:
        slot = (slot[0], slot[1], None)
    return inst, planner.plan_order(inst, porder, explain=True, fixed=slot, exclude=taken)


def _refusal(miss) -> str:
    if miss.excluded:
        why = max(miss.excluded, key=miss.excluded.get)
        return f"这位志愿者不能接这个任务：{planner.EXCLUDED[why]}。"
    return "这位志愿者不能接这个任务。"


def _role_explanation(choice) -> dict | None:
    roles = (choice.explanation or {}).get("roles") or []
    if not roles:
        return None
    role = roles[0]
    return {
        "score": (role.get("chosen") or [None])[0],
        "runners_up": role.get("runners_up", []),
        "excluded": role.get("excluded", {}),
    }


def _rank_of(uow, plan: dict, skill: str) -> int:
    return sum(1 for o in repository.offers_of_order(uow.db, plan["order_id"], uow.session) if o["skill"] == skill) + 1


def _next_candidate(plan: dict, offer: dict, uow) -> None:
    """A decline goes to the best-ranked volunteer still free; nobody left: unfulfillable."""
    inst, choice = _candidate(uow, plan, offer["skill"])
    if isinstance(choice, planner.Choice):
        i, skill, _ = choice.crew[0]
        _offer(
            plan,
            uow,
            inst,
            i,
            skill,
            _rank_of(uow, plan, skill),
            _offer_hours(uow, plan["palace_id"]),
            kind="next",
            explanation=_role_explanation(choice),
            replaces=offer["offer_id"],
        )
        plan["updated_at"] = now()
        repository.save_plan(uow, plan)
        return
    _withdraw_all(plan, uow)
    _unfulfillable(
        plan, uow, "NO_CANDIDATES", f"{offer['skill']} 已没有可邀请的志愿者（其余人选均已婉拒、过期或没空）。"
    )


def _cover(plan: dict, uow, skill: str, replaces: str | None) -> dict | None:
    """Cover for a no-show: the best-ranked free volunteer gets an offer due before the start."""
    inst, choice = _candidate(uow, plan, skill)
    if not isinstance(choice, planner.Choice):
        plan["uncovered"] = sorted({*plan.get("uncovered", []), skill})
        plan["updated_at"] = now()
        repository.save_plan(uow, plan)
        return None
    i, skill, _ = choice.crew[0]
    offer = _offer(
        plan,
        uow,
        inst,
        i,
        skill,
        _rank_of(uow, plan, skill),
        2.0,
        kind="cover",
        explanation=_role_explanation(choice),
        replaces=replaces,
    )
    plan["updated_at"] = now()
    repository.save_plan(uow, plan)
    return offer


def expire_offer(offer_id: str, uow) -> dict | None:
    offer = repository.find(uow.db, "offers", offer_id, uow.session)
    if offer is None or offer["status"] != "pending" or offer["deadline"] > now():
        return None
    return decline_offer(offer_id, None, "超过答复期限", uow, expired=True)


# -------------------------------------------------------------- a dispatcher's own choice, swaps


def assign(order_id: str, volunteer_id: str, skill: str, replaces_offer_id: str | None, by: str, uow) -> dict:
    """The dispatcher overrides the planner: offer this role to this volunteer. The hard rules
    still hold (time, rest gap, limits); the ranking does not."""
    plan = repository.get(uow.db, "plans", order_id, uow.session)
    if plan["status"] not in ("planning", "scheduled", "unfulfillable") or plan.get("start") is None:
        raise Conflict("这个订单现在不能调整人员。", "NOT_PLANNING")
    if skill not in {n["skill"] for n in plan.get("needs") or []}:
        raise Conflict(f"这个节目不需要「{skill}」。", "NO_SUCH_ROLE")
    if replaces_offer_id:
        old = repository.get(uow.db, "offers", replaces_offer_id, uow.session)
        if old["order_id"] != order_id:
            raise Conflict("要替换的邀约不属于这个订单。", "OFFER_OF_OTHER_ORDER")
        if old["status"] in ("pending", "accepted"):
            old.update(status="withdrawn", reason=f"调度员改派给 {volunteer_id}", answered_at=now())
            _free(uow, old)
            repository.save_offer(uow, old)
    inst, choice = _candidate(uow, plan, skill, only=volunteer_id)
    if not isinstance(choice, planner.Choice):
        raise Conflict(_refusal(choice), "NOT_ELIGIBLE")
    i, skill, _ = choice.crew[0]
    explanation = {**(_role_explanation(choice) or {}), "override": True, "by": by}
    offer = _offer(
        plan,
        uow,
        inst,
        i,
        skill,
        _rank_of(uow, plan, skill),
        _offer_hours(uow, plan["palace_id"]),
        kind="override",
        explanation=explanation,
        replaces=replaces_offer_id,
    )
    if plan["status"] == "unfulfillable":
        plan.update(status="planning", reason=None)
    plan["updated_at"] = now()
    repository.save_plan(uow, plan)
    return offer


def propose_swap(offer_id: str, volunteer_id: str, to_volunteer_id: str, uow) -> dict:
    """A volunteer hands an accepted assignment to a qualified colleague, who must accept it."""
    offer = repository.get(uow.db, "offers", offer_id, uow.session)
    if offer["volunteer_id"] != volunteer_id:
        raise Forbidden("这不是您的任务。", "NOT_YOUR_OFFER")
    if offer["status"] != "accepted":
        raise Conflict("只有已接受的任务才能转给同事。", "NOT_ACCEPTED")
    if to_volunteer_id == volunteer_id:
        raise Conflict("不能转给自己。", "SWAP_TO_SELF")
    plan = repository.get(uow.db, "plans", offer["order_id"], uow.session)
    if plan["status"] not in ("planning", "scheduled"):
        raise Conflict("这次服务已经结束或取消，不能再转交。", "NOT_SCHEDULED")
    for other in repository.offers_of_order(uow.db, plan["order_id"], uow.session):
        if other.get("kind") == "swap" and other.get("replaces_offer_id") == offer_id and other["status"] == "pending":
            raise Conflict("这个任务已经在等同事答复了。", "SWAP_PENDING")
    plan["asked"] = [v for v in plan.get("asked", []) if v != to_volunteer_id]
    inst, choice = _candidate(uow, plan, offer["skill"], only=to_volunteer_id)
    if not isinstance(choice, planner.Choice):
        raise Conflict(_refusal(choice), "NOT_ELIGIBLE")
    i, skill, _ = choice.crew[0]
    swap = _offer(
        plan,
        uow,
        inst,
        i,
        skill,
        offer["rank"],
        _offer_hours(uow, plan["palace_id"]),
        kind="swap",
        explanation={**(_role_explanation(choice) or {}), "swap_from": volunteer_id},
        replaces=offer_id,
    )
    plan["updated_at"] = now()
    repository.save_plan(uow, plan)
    return swap


# -------------------------------------------------------------- the day itself


def _scheduled_plan(uow, order_id: str) -> dict:
    plan = repository.get(uow.db, "plans", order_id, uow.session)
    if plan["status"] != "scheduled":
        raise Conflict("这个订单还没有排定，或服务已经结束。", "NOT_SCHEDULED")
    return plan


def _crew(uow, plan: dict) -> list[dict]:
    return [o for o in repository.offers_of_order(uow.db, plan["order_id"], uow.session) if o["status"] == "accepted"]


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
    if volunteer_id not in {o["volunteer_id"] for o in _crew(uow, plan)}:
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
    offer = next((o for o in _crew(uow, plan) if o["volunteer_id"] == volunteer_id), None)
    if offer is None:
        raise Conflict("这位志愿者不在这次服务的人员名单里。", "NOT_IN_CREW")
    if (plan["attendance"].get(volunteer_id) or {}).get("checked_in_at"):
        raise Conflict("这位志愿者已经签到，不能记为缺席。", "ALREADY_CHECKED_IN")
    offer.update(status="no_show", reason=reason, answered_at=offer.get("answered_at") or now())
    _free(uow, offer)
    repository.save_offer(uow, offer)
    cover = _cover(plan, uow, offer["skill"], offer["offer_id"])
    record = {
        "no_show_id": new_id(),
        "order_id": order_id,
        "palace_id": plan["palace_id"],
        "volunteer_id": volunteer_id,
        "skill": offer["skill"],
        "reason": reason,
        "reported_by": by,
        "reported_at": now(),
        "cover_offer_id": cover["offer_id"] if cover else None,
        "cleared": False,
        "cleared_reason": None,
        "cleared_at": None,
    }
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
    record = repository.get(uow.db, "no_shows", no_show_id, uow.session)
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
    plan = repository.get(uow.db, "plans", order_id, uow.session)
    if plan["status"] not in ("scheduled", "delivered"):
        raise Conflict("只有已排定或已完成的服务才能补记时长。", "NOT_SCHEDULED")
    served = {
        o["volunteer_id"]
        for o in repository.offers_of_order(uow.db, order_id, uow.session)
        if o["status"] in ("accepted", "no_show", "handed_over")
    }
    if volunteer_id not in served:
        raise Conflict("这位志愿者没有参加这次服务。", "NOT_IN_CREW")
    grant = {
        "volunteer_id": volunteer_id,
        "hours": round(hours, 1),
        "reason": reason,
        "granted_by": by,
        "granted_at": now(),
    }
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


def granted_by_volunteer(plan: dict) -> dict[str, float]:
    granted: dict[str, float] = {}
    for g in plan.get("grants", []):
        granted[g["volunteer_id"]] = round(granted.get(g["volunteer_id"], 0.0) + g["hours"], 1)
    return granted


def complete_delivery(order_id: str, people_served: int, at, uow, reason: str | None = None, moment=None) -> dict:
    """The delivery took place: only once its slot has started (judged at ``moment``, the clock),
    and with a reason when nobody on the crew checked in (then nobody gets counted hours; a
    dispatcher can grant them later)."""
    plan = _scheduled_plan(uow, order_id)
    crew = _crew(uow, plan)
    reason = (reason or "").strip() or None
    _day_rule(
        domain.completion_allowed,
        plan["start"],
        moment or now(),
        plan["attendance"],
        [o["volunteer_id"] for o in crew],
        reason,
    )
    completed_at = at or now()
    rules = _palace(uow, plan["palace_id"]).get("rules") or {}
    granted = granted_by_volunteer(plan)
    rows = [
        domain.hours_row(
            o["volunteer_id"],
            plan["attendance"].get(o["volunteer_id"]),
            plan,
            rules,
            granted.get(o["volunteer_id"], 0.0),
        )
        for o in crew
    ]
    hours = [{k: r[k] for k in ("volunteer_id", "hours", "granted_hours")} for r in rows]
    plan.update(
        status="delivered",
        people_served=people_served,
        completed_at=completed_at,
        completion_reason=reason,
        hours=rows,
        updated_at=now(),
    )
    repository.save_plan(uow, plan)
    order = plan["order"]
    served = [f"e:{order['enterprise_id']}", f"d:{plan['palace_id']}:{order['district']}"]
    uow.after_commit(lambda: repository.mark_served(uow.db, served, completed_at))
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


# -------------------------------------------------------------- batch: re-plan a period


def batch_plan(palace_id: str, start, end, include_accepted: bool, uow) -> tuple[dict, list[tuple]]:
    """Plan every open order of the period together (read only). Returns a summary and, per
    order, what to apply: (order_id, choice or miss, offers to withdraw, instance)."""
    palace = _palace(uow, palace_id)
    plans = [p for p in repository.open_plans(uow, palace_id, start, end) if p.get("order")]
    programs = {}
    for p in plans:
        pid = p["order"].get("program_id")
        if pid and pid not in programs:
            programs[pid] = repository.find(uow.db, "programs", pid, uow.session)
    plans = [p for p in plans if programs.get(p["order"].get("program_id"))]
    # an order with a lent troupe has people no other order may use: it is planned on its own
    on_loan = [
        p["order_id"] for p in plans if repository.loans_of_order(uow.db, p["order_id"], ("approved",), uow.session)
    ]
    plans = [p for p in plans if p["order_id"] not in on_loan]
    withdraw: dict[str, list[str]] = {}
    kept: dict[str, list[dict]] = {}
    for p in plans:
        offers = [
            o
            for o in repository.offers_of_order(uow.db, p["order_id"], uow.session)
            if o["status"] in ("pending", "accepted")
        ]
        keep = [o for o in offers if o["status"] == "accepted" and not include_accepted]
        kept[p["order_id"]] = keep
        withdraw[p["order_id"]] = [o["offer_id"] for o in offers if o not in keep]
    if not plans:
        return {"orders": 0, "on_loan": on_loan}, []
    skills = {n["skill"] for prog in programs.values() for n in prog["needs"]}
    lo = min(w["start"] for p in plans for w in p["order"]["windows"])
    hi = max(w["end"] for p in plans for w in p["order"]["windows"])
    ignore = {oid for ids in withdraw.values() for oid in ids}
    no_troupe = {p["order_id"] for p in plans if not kept[p["order_id"]]}
    inst = _instance(uow, palace, skills, set(programs), lo, hi, ignore_offers=ignore, ignore_troupe_plans=no_troupe)
    orders, fixed = [], {}
    for p in plans:
        program = programs[p["order"]["program_id"]]
        porder = _planner_order(uow, inst, p["order"], program)
        orders.append(porder)
        if kept[p["order_id"]] and p.get("start"):
            have: dict[str, int] = {}
            for o in kept[p["order_id"]]:
                have[o["skill"]] = have.get(o["skill"], 0) + 1
            left = [(s, n - have.get(s, 0)) for s, n in porder.needs if n - have.get(s, 0) > 0]
            troupe = p.get("troupe_id") if p.get("troupe_id") in inst.troupe_index else None
            fixed[p["order_id"]] = {
                "fixed": (inst.bucket(p["start"]), inst.bucket(p["end"], ceil=True), troupe),
                "needs": left,
                "exclude": [o["volunteer_id"] for o in kept[p["order_id"]]],
            }
    results = planner.plan_batch(inst, orders, explain=True, fixed=fixed)
    work = [(oid, results[oid], withdraw[oid], inst) for oid in (p["order_id"] for p in plans)]
    summary = {
        "orders": len(plans),
        "planned": sum(isinstance(r, planner.Choice) for r in results.values()),
        "unfulfillable": sum(isinstance(r, planner.Miss) for r in results.values()),
        "kept_accepted": sum(len(v) for v in kept.values()),
        "on_loan": on_loan,
    }
    return summary, work


def replan_one(order_id: str, uow, offer_hours: float | None = None) -> int:
    """Re-plan one order on its own (after the batch found its people taken meanwhile)."""
    plan = repository.get(uow.db, "plans", order_id, uow.session)
    if plan["status"] not in ("planning", "unfulfillable") or not plan.get("order"):
        return 0
    kept = _withdraw_all(plan, uow, keep_accepted=True)
    if kept:
        return 0  # accepted people stand; a decline or the dispatcher fills the rest
    asked_before = len(repository.offers_of_order(uow.db, order_id, uow.session))
    plan["asked"] = []
    _plan(plan, uow, offer_hours)
    return len(repository.offers_of_order(uow.db, order_id, uow.session)) - asked_before


def apply_batch_choice(order_id: str, result, withdraw: list[str], inst: planner.Instance, uow) -> int:
    """Apply one order's part of a re-plan in its own transaction; returns the offers made.
    The unique keys still guard: anything taken meanwhile makes this raise, and the caller then
    plans the order on its own."""
    plan = repository.get(uow.db, "plans", order_id, uow.session)
    if plan["status"] not in ("planning", "unfulfillable"):
        return 0  # answered, cancelled or scheduled meanwhile
    current = {
        o["offer_id"]
        for o in repository.offers_of_order(uow.db, order_id, uow.session)
        if o["status"] in ("pending", "accepted")
    }
    for offer in repository.offers_by_ids(uow, withdraw):
        if offer["offer_id"] in current:
            offer.update(status="withdrawn", reason="重新排班", answered_at=offer.get("answered_at") or now())
            _free(uow, offer)
            repository.save_offer(uow, offer)
    kept = current - set(withdraw)
    if not kept:
        _free_troupe(uow, plan)
    if isinstance(result, planner.Miss):
        if plan["status"] == "unfulfillable" and not kept:
            return 0
        plan["explanation"] = {"missing": result.missing, "excluded": result.excluded}
        if kept:  # accepted offers stand; the missing roles wait for the dispatcher
            plan.update(reason=result.reason(), updated_at=now())
            repository.save_plan(uow, plan)
            return 0
        _unfulfillable(plan, uow, "NO_CREW", result.reason())
        return 0
    plan["asked"] = [
        o["volunteer_id"] for o in repository.offers_of_order(uow.db, order_id, uow.session) if o["offer_id"] in kept
    ]
    _commit(plan, uow, inst, result, _offer_hours(uow, plan["palace_id"]))
    return len(result.crew)


# -------------------------------------------------------------- the alliance of palaces (队伍联用)


def create_alliance(name: str, palace_ids: list[str], uow) -> dict:
    """Palaces form an alliance; a palace is in one alliance at most."""
    palace_ids = sorted(set(palace_ids))
    if len(palace_ids) < 2:
        raise Conflict("联盟至少要有两家文化宫。", "ALLIANCE_TOO_SMALL")
    for pid in palace_ids:
        repository.get(uow.db, "palaces", pid, uow.session)
    taken = repository.palaces_in_alliances(uow.db, palace_ids, uow.session)
    if taken:
        names = "、".join(taken)
        raise Conflict(f"这些文化宫已经在别的联盟里：{names}。", "ALREADY_IN_ALLIANCE")
    alliance = {"alliance_id": new_id(), "name": name, "palace_ids": palace_ids, "created_at": now()}
    repository.insert_alliance(uow, alliance)
    uow.emit("alliance_created", alliance_id=alliance["alliance_id"], name=name, palace_ids=palace_ids)
    return alliance


def share_troupe(troupe_id: str, shared: bool, uow) -> dict:
    """The owning palace shares a troupe with its alliance, or stops sharing it."""
    troupe = repository.get(uow.db, "troupes", troupe_id, uow.session)
    alliance = repository.alliance_of(uow.db, troupe["palace_id"], uow.session)
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


def shared_troupes(palace_id: str | None, alliance_id: str | None, db) -> list[dict]:
    """The troupes shared in a palace's alliance (or a named alliance): names, repertoire and
    how many members have each skill; never a member's name or phone number."""
    if alliance_id:
        alliance = repository.get(db, "alliances", alliance_id)
    else:
        alliance = repository.alliance_of(db, palace_id) if palace_id else None
    if alliance is None:
        return []
    troupes = repository.shared_troupes(db, alliance["palace_ids"])
    members = {
        v["volunteer_id"]: v
        for v in repository.by_ids(db, "volunteers", [m for t in troupes for m in t.get("members") or []])
    }
    palaces = {p["palace_id"]: p for p in repository.by_ids(db, "palaces", alliance["palace_ids"])}
    titles = {
        p["program_id"]: p["title"]
        for p in repository.by_ids(db, "programs", [r for t in troupes for r in t.get("repertoire") or []])
    }
    out = []
    for t in troupes:
        people = [members[m] for m in t.get("members") or [] if m in members]
        out.append(
            {
                "troupe_id": t["troupe_id"],
                "name": t["name"],
                "palace_id": t["palace_id"],
                "palace_name": (palaces.get(t["palace_id"]) or {}).get("name"),
                "district": t.get("district"),
                "repertoire": t.get("repertoire") or [],
                "repertoire_titles": [titles[r] for r in t.get("repertoire") or [] if r in titles],
                "member_count": len(people),
                "skills": domain.skill_counts(people),
                "shared": True,
            }
        )
    return out


def _loan_event(loan: dict) -> dict:
    return {k: loan[k] for k in ("loan_id", "order_id", "troupe_id", "alliance_id", "owner_palace_id", "palace_id")}


def request_loan(order_id: str, troupe_id: str, note: str | None, palace_id: str, by: str, uow) -> dict:
    """A member palace asks to borrow an allied troupe for one of its orders; the owner decides."""
    plan = repository.get(uow.db, "plans", order_id, uow.session)
    if plan["palace_id"] != palace_id:
        raise Forbidden("这个订单不归您管理。", "NOT_YOUR_ORDER")
    if plan["status"] not in ("planning", "unfulfillable") or not plan.get("order"):
        raise Conflict("只有还在派单的订单才能申请借用队伍。", "ORDER_NOT_OPEN")
    troupe = repository.get(uow.db, "troupes", troupe_id, uow.session)
    if troupe["palace_id"] == palace_id:
        raise Conflict("这是本文化宫自己的队伍，不用借用。", "OWN_TROUPE")
    alliance = repository.alliance_of(uow.db, palace_id, uow.session)
    if alliance is None or troupe["palace_id"] not in alliance["palace_ids"] or not troupe.get("shared"):
        raise Forbidden("这支队伍没有向本联盟共享。", "NOT_SHARED")
    if any(x["troupe_id"] == troupe_id for x in repository.loans_of_order(uow.db, order_id, session=uow.session)):
        raise Conflict("这个订单已经申请过借用这支队伍了。", "LOAN_EXISTS")
    at = now()
    first = plan.get("first_start") or min(w["start"] for w in plan["order"]["windows"])
    if first <= at:
        raise Conflict("订单的服务时间已经开始，不能再申请借用。", "ORDER_STARTED")
    loan = {
        "loan_id": new_id(),
        "order_id": order_id,
        "troupe_id": troupe_id,
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
        "expires_at": first,  # unanswered when the order could start: too late to lend
    }
    repository.insert_loan(uow, loan)
    uow.emit("troupe_loan_requested", requested_by=by, note=note, **_loan_event(loan))
    return loan


def decide_loan(
    loan_id: str, verdict: str, reason: str | None, owner_palace_id: str | None, by: str, uow, offer_hours=None
) -> dict:
    """The owning palace approves or refuses. Approved, an order nobody could staff is planned
    again at once with the lent troupe and its members among the candidates."""
    loan = repository.get(uow.db, "loans", loan_id, uow.session)
    if owner_palace_id is not None and loan["owner_palace_id"] != owner_palace_id:
        raise Forbidden("只有队伍所属文化宫的调度员才能答复借用申请。", "NOT_OWNER")
    try:
        loan = domain.decide_loan(loan, verdict, by, now(), reason)
    except domain.LoanError as err:
        raise Conflict(err.message, err.code) from None
    repository.save_loan(uow, loan)
    if verdict == "refused":
        uow.emit("troupe_loan_refused", decided_by=by, reason=reason, **_loan_event(loan))
        return loan
    uow.emit("troupe_loan_approved", decided_by=by, **_loan_event(loan))
    plan = repository.find(uow.db, "plans", loan["order_id"], uow.session)
    if plan and plan["status"] == "unfulfillable" and plan.get("order"):
        _plan(_new_plan(plan["order"]), uow, offer_hours)
    return loan


def _end_loan(uow, loan: dict, cause: str) -> None:
    ended = domain.end_loan(loan, cause, now())
    if ended is None:
        return
    repository.save_loan(uow, ended)
    uow.emit("troupe_loan_ended", cause=cause, previous_status=loan["status"], **_loan_event(ended))


def expire_loan(loan_id: str, uow) -> None:
    loan = repository.get(uow.db, "loans", loan_id, uow.session)
    if loan["status"] == "pending" and loan["expires_at"] <= now():
        _end_loan(uow, loan, "expired")
