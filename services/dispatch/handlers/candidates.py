"""The planner's view of the database: who could serve an order, with the time they already
hold and the loads they already carry, and the best volunteer still free for one role."""

from __future__ import annotations

import datetime as dt
import math

from common.clock import CN
from common.errors import Conflict, Forbidden
from contracts.base import now
from services.dispatch import domain, planner, repository

# An online plan reads the held time and loads of at most this many candidates per skill, those
# most likely to be chosen; only when they cannot staff the order are all the others read too.
# So a new order costs the same in a palace of 50 volunteers and of 5,000.
SHORTLIST = 40


def palace(uow, palace_id: str) -> dict:
    """The palace's settings; a palace without a record plans by the defaults."""
    return repository.find_palace(uow, palace_id) or {"palace_id": palace_id}


def crew(uow, plan: dict) -> list[dict]:
    """The offers of the order that were accepted."""
    return [o for o in repository.offers_of_order(uow, plan["order_id"]) if o["status"] == "accepted"]


def _aware(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def shortlist(uow, volunteers: list[dict], skills: set[str], palace: dict, order: dict, program_id: str | None, lo, hi):
    """Per skill, the ``SHORTLIST`` candidates ranked first by what the volunteer's own record
    tells: free at some time of the order's windows, in a troupe that plays the program, nearest
    to the site. Everyone when there are no more than that."""
    if all(sum(1 for v in volunteers if s in (v.get("skills") or ())) <= SHORTLIST for s in skills):
        return volunteers
    troupes = repository.troupes_playing(uow, palace["palace_id"], [program_id]) if program_id else []
    members = {m for t in troupes for m in t.get("members") or ()}
    districts = _districts(palace)
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


def _districts(palace: dict) -> dict[str, tuple[float, float]]:
    return {d["name"]: (d["lat"], d["lon"]) for d in palace.get("districts") or []}


def instance(
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
    origin = dt.datetime.combine((lo - dt.timedelta(hours=1)).astimezone(CN).date(), dt.time(0), CN).astimezone(dt.UTC)
    days = max(1, math.ceil((hi + dt.timedelta(hours=1) - origin).total_seconds() / 86400))
    if volunteers is None:
        volunteers = repository.volunteers_with(uow, palace["palace_id"], sorted(skills))
    troupes = repository.troupes_playing(uow, palace["palace_id"], sorted(program_ids)) if program_ids else []
    volunteers, troupes = domain.with_lent(volunteers, troupes, list(lent[0]), list(lent[1]))
    inst = planner.Instance(planner.Rules.of(palace), origin, days, volunteers, troupes, _districts(palace))
    _read_held_time(uow, inst, origin + dt.timedelta(days=days), ignore_offers)
    _read_loads(uow, inst, ignore_offers, ignore_troupe_plans)
    return inst


def _read_held_time(uow, inst: planner.Instance, end: dt.datetime, ignore_offers: set[str]) -> None:
    """The buckets the database holds for the instance's volunteers, from its origin to ``end``."""
    base = domain.buckets(inst.origin, inst.origin + dt.timedelta(minutes=1)).start
    held = repository.held_buckets(uow, inst.ids, inst.origin, end, ignore_offers)
    for vid, bs in held.items():
        inst.hold_buckets(inst.index[vid], [b - base for b in bs])


def _read_loads(uow, inst: planner.Instance, ignore_offers: set[str], ignore_troupe_plans: set[str]) -> None:
    """Each volunteer's deliveries per week and minutes per month, each troupe's deliveries per
    week, less what the offers and plans about to be given back count."""
    vids = inst.ids
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
    for order_id in ignore_troupe_plans:
        key = (repository.find_plan(uow, order_id) or {}).get("troupe_load_key")
        if key in tcounts:
            tcounts[key] -= 1
    for j, t in enumerate(inst.troupe_ids):
        inst.set_troupe_load(j, {wk: tcounts.get(f"t:{t}:{_week(wk)}", 0) for wk in inst.week_keys})


def _week(key: tuple[int, int]) -> str:
    return f"{key[0]}-W{key[1]:02d}"


def _month(key: tuple[int, int]) -> str:
    return f"{key[0]}-{key[1]:02d}"


def planner_order(uow, inst: planner.Instance, order: dict, program: dict, lent: list[str] = ()) -> planner.Order:
    """The order for the planner, with how long since its enterprise and its district were last
    served (0 = today, 1 = never); a troupe lent to it may play it, whatever its own catalogue says."""
    troupes = [
        t
        for t in inst.troupe_ids
        if order.get("program_id") in (inst.troupe_docs[t].get("repertoire") or []) or t in lent
    ]
    keys = [f"e:{order['enterprise_id']}", f"d:{order['palace_id']}:{order['district']}"]
    seen = repository.last_served(uow, keys)
    at = now()
    days = tuple((at - seen[k]).total_seconds() / 86400 if k in seen else None for k in keys)
    score = round(0.5 * planner.underserved(days[0]) + 0.5 * planner.underserved(days[1]), 4)
    return planner.make_order(inst, order, program, troupes, score, days)


def lent(uow, order_id: str, skills: set[str]) -> tuple[list[dict], list[dict]]:
    """The troupes lent to an order (approved loans) and those of their members with a needed skill."""
    loans = repository.loans_of_order(uow, order_id, ("approved",))
    troupes = repository.troupes_by_ids(uow, domain.lent_for(loans, order_id))
    members = repository.volunteers_by_ids(uow, [m for t in troupes for m in t.get("members") or []])
    willing = {k for k, c in repository.lending(uow, [v["volunteer_id"] for v in members]).items() if c.get("allowed")}
    # a member goes with the troupe to another palace only with their own consent
    return troupes, [v for v in members if skills & set(v.get("skills") or ()) and v["volunteer_id"] in willing]


def alliance_troupes(uow, palace_id: str, program: dict) -> list[dict]:
    """Shared troupes of the alliance's other palaces with members who have a skill the program
    needs: what a dispatcher could ask to borrow when the own palace cannot staff an order."""
    alliance = repository.alliance_of(uow, palace_id)
    if alliance is None:
        return []
    others = [p for p in alliance["palace_ids"] if p != palace_id]
    troupes = repository.shared_troupes(uow, others)
    members = repository.volunteers_by_ids(uow, [m for t in troupes for m in t.get("members") or []])
    skills_of = {v["volunteer_id"]: v for v in members}
    needed = {n["skill"] for n in program.get("needs") or []}
    out = []
    for t in troupes:
        counts = domain.skill_counts([skills_of[m] for m in t.get("members") or [] if m in skills_of])
        useful = {s: n for s, n in counts.items() if s in needed}
        if useful:
            out.append({"troupe_id": t["troupe_id"], "name": t["name"], "palace_id": t["palace_id"], "skills": useful})
    return out


# ------------------------------------------------------------------ one role of a planned order


def candidate(uow, plan: dict, skill: str, *, only: str | None = None) -> tuple[planner.Instance, object]:
    """The best volunteer still free for one role of a planned order (its slot and troupe fixed),
    or why nobody (or ``only``) can take it. Everyone already asked is left out. The shortlist of
    those not yet asked is tried first, everyone only when nobody on it can."""
    home = palace(uow, plan["palace_id"])
    program = repository.find_program(uow, plan["order"].get("program_id") or "") or {}
    troupes, members = lent(uow, plan["order_id"], {skill})
    in_crew = {o["volunteer_id"] for o in crew(uow, plan)}
    taken = set(plan.get("asked", [])) | in_crew
    if only is not None:
        volunteer = repository.volunteer(uow, only)
        if volunteer["palace_id"] != plan["palace_id"] and only not in {v["volunteer_id"] for v in members}:
            raise Forbidden("这位志愿者不属于本文化宫。", "OTHER_PALACE")
        if skill not in (volunteer.get("skills") or []):
            raise Conflict("这位志愿者没有登记「{skill}」这项技能。", "NO_SUCH_SKILL", params={"skill": skill})
        taken.discard(only)
        if only in in_crew:
            raise Conflict("这位志愿者已经在这次服务的名单里。", "ALREADY_IN_CREW")
        return _candidate_among(uow, plan, home, program, skill, [volunteer], (troupes, []), taken)
    everyone = repository.volunteers_with(uow, home["palace_id"], [skill])
    fresh = [v for v in everyone if v["volunteer_id"] not in taken]
    first = shortlist(uow, fresh, {skill}, home, plan["order"], program.get("program_id"), plan["start"], plan["end"])
    inst, choice = _candidate_among(uow, plan, home, program, skill, first, (troupes, members), taken)
    if isinstance(choice, planner.Miss) and len(first) < len(everyone):
        inst, choice = _candidate_among(uow, plan, home, program, skill, everyone, (troupes, members), taken)
    return inst, choice


def _candidate_among(
    uow, plan: dict, palace: dict, program: dict, skill: str, volunteers: list[dict], lent, taken: set[str]
) -> tuple[planner.Instance, object]:
    program_ids = {program.get("program_id")} - {None}
    inst = instance(uow, palace, {skill}, program_ids, plan["start"], plan["end"], volunteers=volunteers, lent=lent)
    one_role = {
        **program,
        "duration_minutes": plan.get("duration_minutes") or program.get("duration_minutes") or 60,
        "needs": [{"skill": skill, "count": 1}],
    }
    porder = planner_order(uow, inst, plan["order"], one_role, [t["troupe_id"] for t in lent[0]])
    troupe = plan.get("troupe_id") if plan.get("troupe_id") in inst.troupe_index else None
    slot = (inst.bucket(plan["start"]), inst.bucket(plan["end"], ceil=True), troupe)
    return inst, planner.plan_order(inst, porder, explain=True, fixed=slot, exclude=taken)
