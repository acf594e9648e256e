"""Planning an order: its slot, troupe and crew, the offers that hold their time and loads, and
giving them back."""

from __future__ import annotations

from common.messages import Message
from contracts.base import new_id, now
from services.dispatch import domain, planner, repository
from services.dispatch.handlers import candidates


def plan(plan: dict, uow, offer_hours: float | None) -> None:
    """Plan the order from a shortlist of candidates, from everyone when the shortlist cannot,
    and offer each role; an order nobody can staff is unfulfillable, with why and which allied
    troupes could help."""
    order = plan["order"]
    repository.planning_turn(uow, order["palace_id"])
    if not order.get("program_id"):
        return unfulfillable(plan, uow, "NO_PROGRAM", Message("自定义需求需要调度员先指定一个节目，才能派单。"))
    program = repository.find_program(uow, order["program_id"])
    if program is None:
        return unfulfillable(plan, uow, "NO_PROGRAM", Message("节目目录里没有这个节目。"))
    palace = candidates.palace(uow, order["palace_id"])
    inst, choice = _best_crew(uow, palace, order, program)
    plan.update(needs=program["needs"], program_title=program["title"], duration_minutes=program["duration_minutes"])
    if isinstance(choice, planner.Miss):
        plan["explanation"] = {"missing": choice.missing, "excluded": choice.excluded}
        allied = candidates.alliance_troupes(uow, order["palace_id"], program)
        reason = choice.reason()
        if allied:
            plan["explanation"]["alliance_troupes"] = allied
            names = "、".join(t["name"] for t in allied[:5])
            reason += Message("联盟共享队伍「{names}」有合适的人员，可以申请借用。", names=names)
        return unfulfillable(plan, uow, "NO_CREW", reason)
    commit(plan, uow, inst, choice, domain.offer_hours(palace, offer_hours))


def _best_crew(uow, palace: dict, order: dict, program: dict) -> tuple[planner.Instance, object]:
    """The planner's choice among the shortlist, and among everyone when the shortlist cannot."""
    lo = min(w["start"] for w in order["windows"])
    hi = max(w["end"] for w in order["windows"])
    skills = {n["skill"] for n in program["needs"]}
    lent = candidates.lent(uow, order["order_id"], skills)
    lent_ids = [t["troupe_id"] for t in lent[0]]
    everyone = repository.volunteers_with(uow, palace["palace_id"], sorted(skills))
    first = candidates.shortlist(uow, everyone, skills, palace, order, program["program_id"], lo, hi)
    for volunteers in (first, everyone):
        inst = candidates.instance(
            uow, palace, skills, {program["program_id"]}, lo, hi, volunteers=volunteers, lent=lent
        )
        porder = candidates.planner_order(uow, inst, order, program, lent_ids)
        choice = planner.plan_order(inst, porder, explain=True)
        if not isinstance(choice, planner.Miss) or len(first) >= len(everyone):
            break
    return inst, choice


class Holds:
    """What a plan holds (offers, booked time, counted loads), written at the end in three
    statements rather than four or five per offer: a palace plans one order at a time, and each
    statement is a round trip to a busy database inside that turn."""

    def __init__(self):
        self.offers: list[dict] = []
        self.loads: list[tuple[str, int, int]] = []

    def add(self, offer: dict, week_limit: int, month_limit: int) -> None:
        (week, deliveries), (month, minutes) = offer["load_keys"]
        self.offers.append(offer)
        self.loads.append((week, deliveries, week_limit))
        self.loads.append((month, minutes, month_limit))

    def write(self, uow) -> None:
        repository.insert_offer(uow, *self.offers)
        repository.book(uow, *self.offers)  # the unique key refuses a double booking or a short rest
        repository.take_loads(uow, self.loads)
        self.offers, self.loads = [], []


def commit(plan: dict, uow, inst: planner.Instance, choice: planner.Choice, hours: float, kind: str = "plan") -> None:
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
    holds = Holds()
    if choice.troupe is not None and not plan.get("troupe_load_key"):
        key = f"t:{choice.troupe}:{domain.week_key(plan['start'])}"
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
        offer(plan, uow, inst, i, skill, ranks[skill], hours, kind=kind, explanation=explanation, holds=holds)
    holds.write(uow)
    plan["status"] = "planning"
    plan["updated_at"] = now()
    repository.save_plan(uow, plan)


def offer(
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
    holds: Holds | None = None,
) -> dict:
    """Offer a role to volunteer i of the instance: hold the time (unique key), count the week's
    deliveries and the month's minutes against the limits, and tell the volunteer. With
    ``holds``, the writes wait for ``holds.write``."""
    at = now()
    made = domain.new_offer(
        new_id(),
        plan,
        inst.ids[i],
        skill,
        rank,
        deadline=domain.offer_deadline(plan["start"], hours, at),
        at=at,
        kind=kind,
        explanation=explanation,
        replaces=replaces,
    )
    mine = holds or Holds()
    mine.add(made, int(inst.week_limit[i]), int(inst.month_limit[i]))
    if holds is None:
        mine.write(uow)
    plan["asked"] = [*plan.get("asked", []), made["volunteer_id"]]
    uow.emit("offer_made", **domain.offer_event(made, made=True))
    return made


def free(uow, offer: dict) -> None:
    """Give back what an offer held: its time and its counts."""
    repository.release(uow, offer["offer_id"])
    for key, amount in offer.get("load_keys") or []:
        repository.give_load(uow, key, amount)
    offer["load_keys"] = []


def close_offer(uow, offer: dict, status: str, *, keep_answered: bool = False, **changes) -> None:
    """An offer ends (declined, withdrawn, handed over, a no-show): its time and counts are given
    back. ``keep_answered`` keeps the time it was answered, if it was."""
    answered = offer.get("answered_at") if keep_answered else None
    offer.update(status=status, answered_at=answered or now(), **changes)
    free(uow, offer)
    repository.save_offer(uow, offer)


def free_troupe(uow, plan: dict) -> None:
    if plan.get("troupe_load_key"):
        repository.give_load(uow, plan["troupe_load_key"], 1)
        plan["troupe_load_key"] = None


def unfulfillable(plan: dict, uow, code: str, reason: str) -> None:
    plan.update(status="unfulfillable", reason=reason, updated_at=now())
    repository.save_plan(uow, plan)
    uow.emit("order_unfulfillable", order_id=plan["order_id"], palace_id=plan["palace_id"], code=code, reason=reason)


def withdraw_all(plan: dict, uow, *, keep_accepted: bool = False) -> list[dict]:
    """Withdraw the order's open offers (and the accepted ones unless kept); returns those kept."""
    kept = []
    for o in repository.offers_of_order(uow, plan["order_id"]):
        if keep_accepted and o["status"] == "accepted":
            kept.append(o)
        elif o["status"] in ("pending", "accepted"):
            close_offer(uow, o, "withdrawn", keep_answered=True)
    if not kept:
        free_troupe(uow, plan)
    return kept


# ------------------------------------------------------------------ one role at a time


def answer_hours(uow, plan: dict) -> float:
    """How long a volunteer asked later (the next candidate, a dispatcher's pick, a swap) has to
    answer: the palace's setting, else a day."""
    return domain.offer_hours(repository.find_palace(uow, plan["palace_id"]))


def offer_role(
    plan: dict,
    uow,
    inst: planner.Instance,
    choice: planner.Choice,
    hours: float,
    *,
    kind: str,
    rank: int | None = None,
    explanation: dict | None = None,
    replaces: str | None = None,
) -> dict:
    """Offer the one role ``choice`` fills (ranked after those already asked for that skill,
    unless ``rank``) and save the plan."""
    i, skill, _ = choice.crew[0]
    if rank is None:
        rank = sum(1 for o in repository.offers_of_order(uow, plan["order_id"]) if o["skill"] == skill) + 1
    if explanation is None:
        explanation = role_explanation(choice)
    made = offer(plan, uow, inst, i, skill, rank, hours, kind=kind, explanation=explanation, replaces=replaces)
    plan["updated_at"] = now()
    repository.save_plan(uow, plan)
    return made


def role_explanation(choice: planner.Choice) -> dict | None:
    """Why this volunteer for the role: the score, the runners-up, who the rules kept out."""
    roles = (choice.explanation or {}).get("roles") or []
    if not roles:
        return None
    role = roles[0]
    return {
        "score": (role.get("chosen") or [None])[0],
        "runners_up": role.get("runners_up", []),
        "excluded": role.get("excluded", {}),
    }
