"""The planner: the slot, troupe and crew for each order, under the hard rules, scored by the
palace's weights, with the reasons for every choice. No I/O. The grids it plans on are in
instance.py, the reasons in explanation.py.

Time is cut into 15-minute buckets from the instance's origin (a midnight, China time). Each
volunteer has a row of availability and a row of occupied buckets. A booking occupies its own
buckets plus half the rest gap on each side, so two bookings whose occupied buckets do not meet
lie at least the whole rest gap apart; the database holds the same buckets under a unique key.

Objective (what the benchmark measures and the reference solver bounds):
  for every served order   weights.serve + weights.underserved * underserved(order)
  for every assignment      weights.travel * (1 - km / max_km)
                          + weights.fairness * (1 - hours this month / monthly limit)
                          + weights.troupe * (member of the troupe sent)
                          + weights.preference * (program kind and district the volunteer likes)
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, fields

import numpy as np

from common.messages import Message
from services.dispatch import explanation
from services.dispatch.explanation import CRITERIA as CRITERIA
from services.dispatch.explanation import EXCLUDED as EXCLUDED
from services.dispatch.explanation import LABELS as LABELS
from services.dispatch.instance import BUCKET as BUCKET
from services.dispatch.instance import BUCKET_MINUTES as BUCKET_MINUTES
from services.dispatch.instance import PER_DAY as PER_DAY
from services.dispatch.instance import STEP as STEP
from services.dispatch.instance import Instance as Instance
from services.dispatch.instance import free_spans as free_spans

RESERVES = 8  # ranked reserves kept per skill for declines and no-shows

# what a batch's time is measured by: the wall clock; a benchmark on a machine shared with other
# work may set the process's own processor time instead (bench/dispatch.py --clock cpu)
CLOCK = time.perf_counter

# what the last batch spent (by CLOCK): its construction, and what each operator of the search
# gained in how long (read by the benchmark)
LAST_BATCH: dict = {}


@dataclass(frozen=True)
class Weights:
    serve: float = 100.0
    underserved: float = 40.0
    travel: float = 10.0
    fairness: float = 8.0
    troupe: float = 6.0
    preference: float = 4.0


@dataclass(frozen=True)
class Rules:
    rest_minutes: int = 30
    max_travel_km: float = 30.0
    week_deliveries: int = 3
    month_hours: float = 40.0
    troupe_week_deliveries: int = 4
    weights: Weights = field(default_factory=Weights)

    @classmethod
    def of(cls, palace: dict | None) -> Rules:
        """The palace's settings over the defaults (missing keys keep the default)."""
        palace = palace or {}
        rules = palace.get("rules") or {}
        weights = {
            f.name: float(v) for f in fields(Weights) if (v := (palace.get("weights") or {}).get(f.name)) is not None
        }
        values = {f.name: rules[f.name] for f in fields(cls) if f.name != "weights" and rules.get(f.name) is not None}
        return cls(**values, weights=Weights(**weights))

    @property
    def half_gap(self) -> int:
        """Buckets each booking keeps free on either side (half the rest gap, rounded up)."""
        return math.ceil(self.rest_minutes / 2 / BUCKET_MINUTES)


def km_between(a: tuple[float, float] | None, b: tuple[float, float] | None) -> float | None:
    """Great-circle distance between two (lat, lon) points, in km."""
    if a is None or b is None:
        return None
    la1, lo1, la2, lo2 = map(math.radians, (*a, *b))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def underserved(days_since: float | None, horizon_days: float = 180.0) -> float:
    """0 when served today, 1 when never served or not for half a year."""
    return 1.0 if days_since is None else min(max(days_since, 0.0), horizon_days) / horizon_days


# ------------------------------------------------------------------ the instance


@dataclass
class Order:
    order_id: str
    district: str
    kind: str
    minutes: int
    needs: list[tuple[str, int]]
    windows: list[tuple[int, int]]  # buckets [start, end)
    troupes: list[str] = field(default_factory=list)  # troupes with the program in their repertoire
    underserved: float = 1.0
    enterprise_id: str | None = None
    # days since the enterprise and since the district were last served (None: never), for the
    # explanation in words
    unserved_days: tuple[float | None, float | None] = (None, None)

    @property
    def length(self) -> int:
        return math.ceil(self.minutes / BUCKET_MINUTES)


@dataclass
class Choice:
    """A planned order: slot [start, end) in buckets, the troupe, the crew and the reserves."""

    order_id: str
    start: int
    end: int
    troupe: str | None
    crew: list[tuple[int, str, dict]]  # (volunteer index, skill, score by criterion)
    reserves: dict[str, list[int]]
    value: float
    explanation: dict | None = None


@dataclass
class Miss:
    order_id: str
    missing: dict[str, int]
    excluded: dict[str, int]

    def reason(self) -> Message:
        if not self.missing:
            return Message("在可选时间段内没有可安排的时间。")
        parts = "，".join(Message("{skill} {n} 人", skill=skill, n=n) for skill, n in sorted(self.missing.items()))
        kept_out = sorted(self.excluded.items(), key=lambda kv: -kv[1])
        why = "；".join(Message("{reason} {n} 人", reason=Message(EXCLUDED[k]), n=n) for k, n in kept_out if n)
        if why:
            return Message("在可选时间段内凑不齐人员：缺少 {parts}。（候选人中：{why}）", parts=parts, why=why)
        return Message("在可选时间段内凑不齐人员：缺少 {parts}。", parts=parts)


# ------------------------------------------------------------------ planning one order


def _eligible(inst: Instance, c: np.ndarray, order: Order, start: int, end: int, far_ok: np.ndarray):
    """Which candidates pass every hard rule for the slot (cheap checks first, the grid last)."""
    h = inst.rules.half_gap
    w, m = inst.week_of(start), inst.month_of(start)
    ok = inst.avail_sum[c, end] - inst.avail_sum[c, start] == end - start
    if far_ok is not None:
        ok &= far_ok
    ok &= inst.week_count[c, w] < inst.week_limit[c]
    ok &= inst.month_minutes[c, m] + order.minutes <= inst.month_limit[c]
    ok &= inst.free_in(c, max(start - h, 0), min(end + h, inst.T))
    return ok


def plan_order(
    inst: Instance,
    order: Order,
    *,
    explain: bool = False,
    fixed: tuple[int, int, str | None] | None = None,
    exclude: Iterable[str] = (),
    needs: list[tuple[str, int]] | None = None,
) -> Choice | Miss:
    """The best (slot, troupe, crew) for one order, or what was missing at best.

    ``fixed`` keeps a slot and troupe (an order with accepted offers); ``needs`` plans only the
    remaining roles; ``exclude`` keeps volunteers out (already in the crew, or declined).
    """
    wts = inst.rules.weights
    needs = needs if needs is not None else order.needs
    static = _near_candidates(inst, order, needs, exclude)
    if fixed is not None:
        slots, troupe_pool = [(fixed[0], fixed[1])], [fixed[2]]
    else:
        slots = inst.slots(order)
        troupe_pool = [t for t in order.troupes if t in inst.troupe_index]
    best: Choice | None = None
    best_adjusted = -math.inf
    best_miss: tuple[dict, int, int] | None = None  # (missing, start, end)
    for start, end in slots:
        masks, scores = _slot_scores(inst, order, needs, static, start, end)
        if fixed is not None:
            options = troupe_pool
        else:
            options = [None, *_troupe_options(inst, needs, static, masks, troupe_pool, start)]
        for troupe in options:
            got = _crew(inst, needs, static, masks, scores, troupe)
            if isinstance(got, dict):  # something missing
                if best_miss is None or sum(got.values()) < sum(best_miss[0].values()):
                    best_miss = (got, start, end)
                continue
            crew, total, ranked = got
            value = wts.serve + wts.underserved * order.underserved + total
            adjusted = value - sum(float(inst.pressure[i]) for i, _, _ in crew)
            if best is None or adjusted > best_adjusted + 1e-9:
                best_adjusted = adjusted
                in_crew = {i for i, _, _ in crew}
                reserves = {s: [i for i in ranked[s][: len(in_crew) + RESERVES] if i not in in_crew] for s in ranked}
                best = Choice(order.order_id, start, end, troupe, crew, reserves, value)
                if explain:
                    best.explanation = explanation.explain(
                        inst, order, needs, static, masks, scores, troupe, crew, ranked, start, end
                    )
    if best is not None:
        return best
    return _miss(inst, order, needs, static, best_miss, explain)


def _near_candidates(inst: Instance, order: Order, needs, exclude: Iterable[str]) -> dict:
    """Per skill, the candidates near enough (those too far never come back: the rest of the
    search looks only at the near ones), how many were too far, and the scores that do not
    depend on the slot (travel, preference)."""
    wts = inst.rules.weights
    banned = {inst.index[v] for v in exclude if v in inst.index}
    dist = inst.distance(order.district)
    likes = inst.likes(order.kind, order.district)
    static = {}
    for skill, _ in needs:
        c = inst.by_skill.get(skill, np.zeros(0, dtype=np.int64))
        if banned:
            c = c[~np.isin(c, list(banned))]
        travel = np.clip(1.0 - dist[c] / inst.rules.max_travel_km, 0.0, 1.0)
        near = dist[c] <= inst.max_km[c]
        static[skill] = (c[near], int((~near).sum()), wts.travel * travel[near], wts.preference * likes[c][near])
    return static


def _slot_scores(inst: Instance, order: Order, needs, static: dict, start: int, end: int) -> tuple[dict, dict]:
    """Per skill, who passes every hard rule for the slot, and the scores (fairness by the
    month's minutes as they stood before a batch)."""
    wts = inst.rules.weights
    m = inst.month_of(start)
    masks, scores = {}, {}
    for skill, _ in needs:
        c, _, travel, pref = static[skill]
        masks[skill] = _eligible(inst, c, order, start, end, None)
        limit = inst.month_limit[c]
        minutes = inst.month_minutes if inst.fair_minutes is None else inst.fair_minutes
        fair = wts.fairness * (1.0 - np.minimum(minutes[c, m] / np.maximum(limit, 1), 1.0))
        scores[skill] = (travel, fair, pref)
    return masks, scores


def _troupe_options(inst: Instance, needs, static: dict, masks: dict, troupe_pool: list[str], start: int) -> list[str]:
    """The (at most two) troupes under their week's limit with the most members free for the slot."""
    if not troupe_pool:
        return []
    w = inst.week_of(start)
    tj = np.array([inst.troupe_index[t] for t in troupe_pool])
    tj = tj[inst.troupe_week[tj, w] < inst.troupe_limit[tj]]
    if not len(tj):
        return []
    free = np.concatenate([static[skill][0][masks[skill]] for skill, _ in needs])
    counts = inst.members[tj][:, free].sum(axis=1)
    top = np.argsort(-counts, kind="stable")[:2]
    return [inst.troupe_ids[tj[k]] for k in top if counts[k] > 0]


def _miss(inst: Instance, order: Order, needs, static: dict, best_miss, explain: bool) -> Miss:
    """What was missing at the slot that came closest, and (``explain``) how many candidates
    each hard rule kept out there."""
    if best_miss is None:
        return Miss(order.order_id, {}, {})
    missing, start, end = best_miss
    excluded: dict[str, int] = {}
    if explain:
        for skill, _ in needs:
            c, n_far, _, _ = static[skill]
            ok = _eligible(inst, c, order, start, end, None)
            for k, n in {**explanation.excluded(inst, c, order, start, end, None, ok), "too_far": n_far}.items():
                if n:
                    excluded[k] = excluded.get(k, 0) + n
    return Miss(order.order_id, missing, excluded)


def _crew(inst: Instance, needs, static, masks, scores, troupe):
    """Greedy cover, scarcest skill first: distinct volunteers, best score first."""
    member = inst.members[inst.troupe_index[troupe]] if troupe is not None else None
    wt = inst.rules.weights.troupe
    taken: set[int] = set()
    crew, total, missing, ranked = [], 0.0, {}, {}
    order_of = sorted(needs, key=lambda n: (int(masks[n[0]].sum()) - n[1], n[0]))
    for skill, count in order_of:
        c = static[skill][0]
        travel, fair, pref = scores[skill]
        ok = np.flatnonzero(masks[skill])
        total_k = travel[ok] + fair[ok] + pref[ok]
        if member is not None:
            total_k = total_k + wt * member[c[ok]]
        order_k = ok[np.lexsort((c[ok], -(total_k - inst.pressure[c[ok]])))]
        ranked[skill] = c[order_k]
        picked = 0
        for k in order_k:
            i = int(c[k])
            if i in taken:
                continue
            taken.add(i)
            parts = {
                "travel": float(travel[k]),
                "fairness": float(fair[k]),
                "troupe": float(wt * member[i]) if member is not None else 0.0,
                "preference": float(pref[k]),
            }
            crew.append((i, skill, parts))
            total += sum(parts.values())
            picked += 1
            if picked == count:
                break
        if picked < count:
            missing[skill] = count - picked
    if missing:
        return missing
    keep = RESERVES + len(crew)
    return crew, total, {s: r[:keep].tolist() for s, r in ranked.items()}


# ------------------------------------------------------------------ batch


def _demand(inst: Instance, order: Order, near: dict | None = None) -> tuple[list[tuple[np.ndarray, float]], float]:
    """Who could fill each role of the order (near enough, free at its first or last start time,
    under the limits), and how hard it is to staff: the fewest candidates per needed person.
    ``near`` keeps the near candidates per (skill, district) across orders."""
    near = {} if near is None else near
    slots = inst.slots(order)
    shares, tight = [], math.inf
    if not slots:
        return shares, 0.0
    (a1, b1), (a2, b2) = slots[0], slots[-1]
    # everyone free for the first or the last start (the grid's columns are contiguous)
    free = (inst.avail_sum[:, b1] - inst.avail_sum[:, a1] == b1 - a1) | (
        inst.avail_sum[:, b2] - inst.avail_sum[:, a2] == b2 - a2
    )
    for skill, count in order.needs:
        c = near.get((skill, order.district))
        if c is None:
            dist = inst.distance(order.district)
            c = inst.by_skill.get(skill, np.zeros(0, dtype=np.int64))
            c = near[(skill, order.district)] = c[dist[c] <= inst.max_km[c]]
        who = c[free[c]]
        tight = min(tight, len(who) / count)
        if len(who):
            shares.append((who, count / len(who)))
    return shares, tight


def plan_batch(
    inst: Instance,
    orders: list[Order],
    *,
    explain: bool = False,
    fixed: dict | None = None,
    scarcity: float = 1.0,
    improve_seconds: float | None = None,
    seed: int = 1,
) -> dict[str, Choice | Miss]:
    """Plan many orders together on one instance; every choice is held in it at the end.

    Construction (search.py) goes hardest to staff first (fewest candidates per person needed),
    the under-served ahead of others equally hard, each order's crew the best that exists at
    each start. While choosing, a volunteer many waiting orders of the same week depend on costs
    a little more (``scarcity``), so that the easy orders leave the scarce people to the hard
    ones; the objective itself is not changed by this. Then, until ``improve_seconds`` after the
    start (counting the last pass), the large neighbourhood search plans parts of the batch again
    exactly. A last pass gives every planned order its reserves (and, with ``explain``, the
    reasons), and plans any order still left out that now fits, or says what it lacked.
    Orders in ``fixed`` (accepted offers) keep their slot, troupe and people.
    """
    from services.dispatch import search

    fixed = fixed or {}
    w = inst.rules.weights
    started = CLOCK()
    near: dict = {}
    demand = {o.order_id: _demand(inst, o, near) for o in orders}

    def key(o: Order) -> tuple:
        return (min(demand[o.order_id][1], 50.0) // 2, -(w.serve + w.underserved * o.underserved), o.windows[0][0])

    queue = sorted(orders, key=key)
    results: dict[str, Choice | Miss] = {}
    inst.fair_minutes = inst.month_minutes.copy()
    try:
        search.construct(inst, queue, results, fixed, scarcity, demand)
        built = CLOCK() - started
        LAST_BATCH.clear()
        LAST_BATCH.update(construct_seconds=built, construct_objective=objective(results), search=None)
        if improve_seconds is not None:
            # the last pass costs about a tenth of the construction
            deadline = started + improve_seconds - 0.15 * built - 0.1
            if CLOCK() < deadline:
                engine = search.Search(inst, queue, results, fixed, seed)
                engine.run(deadline)
                LAST_BATCH["search"] = {
                    k: {"repairs": n, "gain": round(g, 1), "seconds": round(t, 2)}
                    for k, (n, g, t) in engine.stats.items()
                }
        _last_pass(inst, queue, results, fixed, explain, search.Scorer(inst))
    finally:
        inst.fair_minutes = None
        inst.pressure = np.zeros(len(inst.ids))
    return results


def _last_pass(inst: Instance, queue: list[Order], results: dict, fixed: dict, explain: bool, scorer) -> None:
    """Reserves (and reasons) of every planned order; a left-out order tries once more."""
    for order in queue:
        r = results[order.order_id]
        if order.order_id in fixed:
            continue
        if isinstance(r, Miss):
            got = plan_order(inst, order, explain=explain)
            if isinstance(got, Choice):
                inst.apply(order, got)
            results[order.order_id] = got
            continue
        if not explain:
            r.reserves = scorer.reserves(order, r)
            continue
        if explain:
            inst.unapply(order, r)
        static = _near_candidates(inst, order, order.needs, ())
        masks, scores = _slot_scores(inst, order, order.needs, static, r.start, r.end)
        member = inst.members[inst.troupe_index[r.troupe]] if r.troupe is not None else None
        in_crew = {i for i, _, _ in r.crew}
        ranked = {}
        for skill, _ in order.needs:
            c = static[skill][0]
            ok = np.flatnonzero(masks[skill])
            travel, fair, pref = scores[skill]
            total = travel[ok] + fair[ok] + pref[ok]
            if member is not None:
                total = total + inst.rules.weights.troupe * member[c[ok]]
            ranked[skill] = c[ok[np.lexsort((c[ok], -total))]][: len(in_crew) + RESERVES].tolist()
        r.reserves = {s: [i for i in ranked[s] if i not in in_crew][:RESERVES] for s in ranked}
        if explain:
            r.explanation = explanation.explain(
                inst, order, order.needs, static, masks, scores, r.troupe, r.crew, ranked, r.start, r.end
            )
            inst.apply(order, r)


def _repair(inst: Instance, order: Order, results: dict, by_id: dict, explain: bool) -> Choice | None:
    """Serve a left-out order by moving one person: for a role nobody is free for, take a
    candidate whose only conflict is one role in another planned order, give that role to a
    replacement, and plan this order. Everything is undone when it does not work out."""
    h = inst.rules.half_gap
    held: dict[int, list[str]] = {}
    for oid, r in results.items():
        if isinstance(r, Choice):
            for i, _, _ in r.crew:
                held.setdefault(i, []).append(oid)
    dist = inst.distance(order.district)
    for start, end in inst.slots(order):
        w, m = inst.week_of(start), inst.month_of(start)
        for skill, _ in order.needs:
            c = inst.by_skill.get(skill, np.zeros(0, dtype=np.int64))
            c = c[dist[c] <= inst.max_km[c]]
            c = c[inst.avail_sum[c, end] - inst.avail_sum[c, start] == end - start]
            c = c[inst.occupied[c, max(start - h, 0) : min(end + h, inst.T)].any(axis=1)]
            for i in c[:12].tolist():
                blocking = [
                    oid
                    for oid in held.get(i, [])
                    if results[oid].start - h < end + h and start - h < results[oid].end + h
                ]
                if len(blocking) != 1:
                    continue
                other, mine = by_id[blocking[0]], results[blocking[0]]
                role = next(sk for j, sk, _ in mine.crew if j == i)
                inst.unhold(i, mine.start, mine.end, other.minutes)
                if inst.week_count[i, w] >= inst.week_limit[i] or (
                    inst.month_minutes[i, m] + order.minutes > inst.month_limit[i]
                ):
                    inst.hold(i, mine.start, mine.end, other.minutes)
                    continue
                stand_in = plan_order(
                    inst,
                    other,
                    fixed=(mine.start, mine.end, mine.troupe),
                    needs=[(role, 1)],
                    exclude=[inst.ids[j] for j, _, _ in mine.crew],
                )
                if isinstance(stand_in, Choice):
                    u, _, parts = stand_in.crew[0]
                    inst.hold(u, mine.start, mine.end, other.minutes)
                    got = plan_order(inst, order, explain=explain, fixed=(start, end, None))
                    if isinstance(got, Choice):
                        old_parts = next(p for j, _, p in mine.crew if j == i)
                        mine.crew = [(u, role, parts) if j == i else (j, sk, p) for j, sk, p in mine.crew]
                        mine.value += sum(parts.values()) - sum(old_parts.values())
                        inst.apply(order, got)
                        return got
                    inst.unhold(u, mine.start, mine.end, other.minutes)
                inst.hold(i, mine.start, mine.end, other.minutes)
    return None


def objective(results: dict[str, Choice | Miss]) -> float:
    return sum(r.value for r in results.values() if isinstance(r, Choice))


def make_order(
    inst: Instance,
    order: dict,
    program: dict,
    troupes: list[str],
    underserved: float,
    unserved_days: tuple[float | None, float | None] = (None, None),
) -> Order:
    """An order as the planner sees it (windows in buckets of the instance)."""
    return Order(
        order_id=order["order_id"],
        district=order["district"],
        kind=program.get("kind") or "",
        minutes=int(program["duration_minutes"]),
        needs=[(n["skill"], int(n["count"])) for n in program["needs"]],
        windows=[(inst.bucket(w["start"], ceil=True), inst.bucket(w["end"])) for w in order["windows"]],
        troupes=list(troupes),
        underserved=underserved,
        enterprise_id=order.get("enterprise_id"),
        unserved_days=unserved_days,
    )
