"""The batch planner's engine (planner.plan_batch): a fast construction, then an adaptive large
neighbourhood search for the rest of the batch's time. No I/O.

Construction scores every start of an order in one numpy pass (who is free, under the limits,
and their score at each start) for every option at once (no troupe, or each troupe of the
program with the week left and members among the candidates): each role's best candidates and
the bound they reach filled apart; where nobody is among the best of two skills that is the
best crew itself, otherwise the crew is filled by the greedy of a transversal matroid
(candidates best first, each taken when the roles can still be filled with them: an augmenting
path moves a person already in to another of their skills), best bound first, until no bound
beats the best crew found. A person whom waiting orders of the same week depend on costs a
little more while choosing (scarcity per week: the demand left that week over the deliveries
left that week); the objective is not changed by this.

The search then destroys a part of the plan and plans it again: the orders blocking left-out
orders' candidates (same day, same week's limits), a day (of a group of districts), a skill's
week, or the orders worst placed. A part small enough is solved exactly by the troupe-exact MIP
(exact.py, warm-started with the plan it replaces, so it never gets worse; the size grows while
HiGHS closes repairs quickly and shrinks when it runs out of time); a larger one (up to
``LARGE`` orders) by regret insertion, the order that would lose most by waiting first, kept
only when not worse. Operators that improve the plan more per second are chosen more often.

A batch of a district's size (up to ``ROUND_UP_TO`` orders) first starts again from the LP
relaxation of the whole batch, rounded (it is nearly whole there), and plans every day in turn
exactly (sweep) before the repairs; regret insertion does not beat such a plan and is left out.
A city's batch settles its construction first instead (settle). Every HiGHS solve stops by the
batch's clock (planner.CLOCK), so that a benchmark measured in processor time on a shared
machine gives the solver the processor time it says.
"""

from __future__ import annotations

import math
import random

import numpy as np

from services.dispatch import planner as P

_DEBUG = bool(__import__("os").environ.get("SEARCH_DEBUG"))


class _Masks(dict):
    """Per skill, who has it (nobody, for a skill nobody has)."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def __missing__(self, skill: str) -> np.ndarray:
        return np.zeros(self.size, dtype=bool)


def _skill_masks(inst: P.Instance) -> dict[str, np.ndarray]:
    masks = getattr(inst, "_skill_masks", None)
    if masks is None:
        masks = _Masks(len(inst.ids))
        for s, ix in inst.by_skill.items():
            m = np.zeros(len(inst.ids), dtype=bool)
            m[ix] = True
            masks[s] = m
        inst._skill_masks = masks
    return masks


def fill(cands: np.ndarray, roles: list[str], masks: dict[str, np.ndarray]) -> list[tuple[int, str]] | None:
    """The best crew among ``cands`` (best first): the greedy of a transversal matroid. Each
    candidate is taken when the roles can still all be filled with the ones taken: a skill
    with a role open, or one whose holder can move on to another skill that leads to an open
    role (an augmenting path); the others are skipped in one numpy step."""
    skills = list(dict.fromkeys(roles))
    cap = [roles.count(k) for k in skills]
    K, R = len(skills), len(roles)
    bits = np.zeros(len(cands), dtype=np.int64)
    for k, sk in enumerate(skills):
        bits |= masks[sk][cands].astype(np.int64) << k
    # the best of each skill's own candidates, when no one is among the best of two skills, is
    # the best crew at once (it reaches the bound of the roles filled apart)
    tops = [np.flatnonzero(bits >> k & 1)[: cap[k]] for k in range(K)]
    if all(len(t) == c for t, c in zip(tops, cap, strict=True)):
        at = np.concatenate(tops) if K > 1 else tops[0]
        if K == 1 or len(np.unique(at)) == R:
            return [(int(cands[j]), skills[k]) for k in range(K) for j in tops[k].tolist()]
    elif K == 1:
        return None
    holders: list[list[tuple[int, int]]] = [[] for _ in range(K)]  # (volunteer, their skill bits)
    pos, filled = 0, 0
    while filled < R:
        # distance of each skill to an open role along holders who could move (None: no path)
        dist: list[int | None] = [0 if len(holders[k]) < cap[k] else None for k in range(K)]
        changed = True
        while changed:
            changed = False
            for k in range(K):
                if dist[k] is not None:
                    continue
                best = None
                for _, hb in holders[k]:
                    for k2 in range(K):
                        if k2 != k and hb >> k2 & 1 and dist[k2] is not None:
                            best = dist[k2] + 1 if best is None else min(best, dist[k2] + 1)
                if best is not None:
                    dist[k], changed = best, True
        mask = sum(1 << k for k in range(K) if dist[k] is not None)
        if not mask:
            return None
        hit = np.flatnonzero(bits[pos:] & mask)
        if not len(hit):
            return None
        j = pos + int(hit[0])
        v, vb = int(cands[j]), int(bits[j])
        # walk the path: v enters the nearest skill; each holder moved goes one step nearer
        k = min((k for k in range(K) if vb >> k & 1 and dist[k] is not None), key=lambda k: dist[k])
        mover, mb = v, vb
        while True:
            if dist[k] == 0:
                holders[k].append((mover, mb))
                break
            for q, (hv, hb) in enumerate(holders[k]):
                nxt = [k2 for k2 in range(K) if k2 != k and hb >> k2 & 1 and dist[k2] == dist[k] - 1]
                if nxt:
                    holders[k][q] = (mover, mb)
                    mover, mb, k = hv, hb, nxt[0]
                    break
        filled += 1
        pos = j + 1
    return [(v, skills[k]) for k in range(K) for v, _ in holders[k]]


class Scorer:
    """Per order: the candidates near enough with any needed skill, their scores that do not
    depend on the slot, and who passes every hard rule at each start (one numpy pass)."""

    TROUPES = 2  # troupes tried per slot: those with the most members among the strong candidates

    def __init__(self, inst: P.Instance):
        self.inst = inst
        self.masks = _skill_masks(inst)
        self.fair_minutes = inst.month_minutes if inst.fair_minutes is None else inst.fair_minutes
        self._cache: dict = {}
        self._reach: dict = {}  # per district, who would travel there
        # fairness is scored on the month's minutes as they stood before the batch
        limit = np.maximum(inst.month_limit, 1)[:, None]
        self.fair = inst.rules.weights.fairness * (1.0 - np.minimum(self.fair_minutes / limit, 1.0))

    def _eligible(self, order: P.Order, slots: list[tuple[int, int]]):
        """The candidates (near, with a needed skill, free at some time of the windows), who of
        them passes every hard rule at each slot, and their scores but fairness."""
        inst = self.inst
        near, static_all = self._near(order)
        se = np.array(slots, dtype=np.int64).reshape(-1, 2)
        starts, ends = se[:, 0], se[:, 1]
        lo, hi = int(starts.min()), int(ends.max())
        keep = inst.avail_sum[near, hi] - inst.avail_sum[near, lo] >= int((ends - starts).min())
        u, static = near[keep], static_all[keep]
        h = inst.rules.half_gap
        weeks = inst.day_week[np.minimum(starts // P.PER_DAY, len(inst.day_week) - 1)]
        months = inst.day_month[np.minimum(starts // P.PER_DAY, len(inst.day_month) - 1)]
        U = u[:, None]
        ok = inst.avail_sum[U, ends[None]] - inst.avail_sum[U, starts[None]] == (ends - starts)[None]
        if weeks[0] == weeks[-1] and months[0] == months[-1]:  # the usual case: one week and month
            ok &= (
                (inst.week_count[u, weeks[0]] < inst.week_limit[u])
                & (inst.month_minutes[u, months[0]] + order.minutes <= inst.month_limit[u])
            )[:, None]
        else:
            ok &= inst.week_count[U, weeks[None]] < inst.week_limit[u][:, None]
            ok &= inst.month_minutes[U, months[None]] + order.minutes <= inst.month_limit[u][:, None]
        ok &= inst.free_in(U, np.maximum(starts - h, 0)[None], np.minimum(ends + h, inst.T)[None])
        return u, ok, static, starts, ends, weeks, months

    def _pool(self, order: P.Order) -> np.ndarray:
        """The troupes that play the order's program, as rows of the instance's grids."""
        key = tuple(order.troupes)
        got = self._cache.get(key)
        if got is None:
            troupes = [self.inst.troupe_index[t] for t in order.troupes if t in self.inst.troupe_index]
            got = self._cache[key] = np.array(troupes, dtype=np.int64)
        return got

    def _near(self, order: P.Order) -> tuple[np.ndarray, np.ndarray]:
        """Those near enough with a needed skill, and their travel and preference scores."""
        mine = self._cache.get(id(order))  # the same order object asks again (kept, so its id is not reused)
        if mine is not None and mine[0] is order:
            return mine[1]
        key = (tuple(sorted(s for s, _ in order.needs)), order.district, order.kind)
        got = self._cache.get(key)
        if got is None:
            inst, w = self.inst, self.inst.rules.weights
            dist = inst.distance(order.district)
            near = self._reach.get(order.district)
            if near is None:
                near = self._reach[order.district] = dist <= inst.max_km
            anyone = np.zeros(len(inst.ids), dtype=bool)
            for sk in key[0]:
                anyone |= self.masks[sk]
            u = np.flatnonzero(anyone & near)
            static = w.travel * np.clip(1.0 - dist[u] / inst.rules.max_travel_km, 0.0, 1.0)
            static = static + w.preference * inst.likes(order.kind, order.district)[u]
            got = self._cache[key] = (u, static)
        self._cache[id(order)] = (order, got)
        return got

    def _score(self, u, col, static, m: int) -> np.ndarray:
        return static[col] + self.fair[u[col], m]

    def best(self, order: P.Order, pressure: Pressure | None = None, detail: bool = False):
        """The best (start, end, troupe, crew) for the order as the instance stands, by value
        less the scarcity ``pressure`` (volunteers × weeks), or None. ``detail``: also its key
        (the crew's scores), the bound of the best other start (-inf: none), and who and which
        troupes it looked at (what a change must touch to change the answer)."""
        inst, w = self.inst, self.inst.rules.weights
        slots = inst.slots(order)
        roles = [s for s, n in order.needs for _ in range(n)]
        if not slots:
            return None
        u, ok, static, starts, ends, weeks, months = self._eligible(order, slots)
        if len(u) < len(roles) or not ok.any():
            return None
        idxs = [np.flatnonzero(self.masks[s][u]) for s, _ in order.needs]  # each skill's candidates
        if any(len(ix) < n for ix, (_, n) in zip(idxs, order.needs, strict=True)):
            return None
        live = np.flatnonzero(ok.any(axis=0))  # a start where a role has too few is bounded by -inf below
        if not len(live):
            return None
        pool = self._pool(order)
        members = None
        if len(pool):
            # troupes with the week left at some start and a member among its candidates
            room = inst.troupe_week[pool[:, None], weeks[live][None]] < inst.troupe_limit[pool][:, None]
            some = room.any(axis=1)
            pool, room = pool[some], room[some]
            if len(pool):
                members = inst.members[pool][:, u]  # troupes × candidates
                keep = members[:, ok[:, live].any(axis=1)].any(axis=1)
                pool, room, members = pool[keep], room[keep], members[keep]
                if not len(pool):
                    members = None
        # every option (no troupe, or one of the troupes with members among the candidates) at
        # every start that could be staffed, in one numpy pass: each candidate's key there, each
        # role's best candidates and the bound they reach filled apart; where no one is among the
        # best of two skills, that bound is the best crew itself, otherwise the crew is filled by
        # the matroid's greedy, best bound first, until no bound beats the best crew found
        keys = static[:, None] + self.fair[u[:, None], months[live][None]]
        if pressure is not None:
            keys = keys - pressure.at(u[:, None], weeks[live][None])
        keys = np.where(ok[:, live], keys, -np.inf)  # candidates × starts
        if members is not None:
            # only troupes with a member among the top candidates: someone whose best key with
            # the bonus beats, for a skill of theirs, that skill's count-th best key
            kmax = keys.max(axis=1)
            floor = np.full(len(u), np.inf)
            for idx, (_, n) in zip(idxs, order.needs, strict=True):
                vals = kmax[idx]
                nth = np.partition(vals, len(vals) - n)[len(vals) - n]
                floor[idx] = np.minimum(floor[idx], nth)
            keep = members[:, kmax + w.troupe > floor].any(axis=1)
            if not keep.all():
                pool, room, members = pool[keep], room[keep], members[keep]
                if not len(pool):
                    members = None
        if members is not None:
            boost = np.concatenate([np.zeros((1, len(u))), w.troupe * members], axis=0)
            opts = keys[None] + boost[:, :, None]  # options × candidates × starts
        else:
            opts = keys[None]
        n_opt, S = opts.shape[0], len(live)
        bound = np.zeros((n_opt, S))
        tops = []
        for idx, (_, n) in zip(idxs, order.needs, strict=True):
            sub = opts[:, idx, :]
            if n == 1:
                at = sub.argmax(axis=1)[:, None, :]
                bound += sub.max(axis=1)
            else:
                at = np.argpartition(-sub, n - 1, axis=1)[:, :n, :]
                bound += np.take_along_axis(sub, at, axis=1).sum(axis=1)
            tops.append(idx[at])
        top = np.concatenate(tops, axis=1)  # options × roles × starts (candidate positions)
        if top.shape[1] > 1:
            st = np.sort(top, axis=1)
            apart = ~(st[:, 1:] == st[:, :-1]).any(axis=1)
        else:
            apart = np.ones((n_opt, S), dtype=bool)
        tprice = pressure.troupes_at(inst, pool, weeks[live]) if pressure is not None and members is not None else None
        if members is not None:
            if tprice is not None:
                bound[1:] -= tprice
            bound[1:][~room] = -np.inf
            bound[1:][bound[1:] <= bound[0][None] + 1e-9] = -np.inf  # a troupe adding nothing
        flat = np.argsort(-bound, axis=None, kind="stable")
        best, best_adj = None, -math.inf
        for f in flat.tolist():
            oi, q = divmod(f, S)
            ub = float(bound[oi, q])
            if ub <= best_adj + 1e-9:
                break
            k = int(live[q])
            if apart[oi, q]:
                crew = [(i, sk) for (sk, _), t in zip(order.needs, tops, strict=True) for i in u[t[oi, :, q]].tolist()]
                adj = ub
            else:
                col = ok[:, k]
                cand = u[col]
                key = opts[oi, col, q]
                crew = fill(cand[np.argsort(-key, kind="stable")], roles, self.masks)
                if crew is None:
                    continue
                at = np.searchsorted(cand, [i for i, _ in crew])
                adj = float(key[at].sum()) - (float(tprice[oi - 1, q]) if tprice is not None and oi else 0.0)
            if adj > best_adj + 1e-9:
                best_adj, best_q = adj, q
                troupe = inst.troupe_ids[pool[oi - 1]] if oi else None
                best = (int(starts[k]), int(ends[k]), troupe, crew)
        if not detail:
            return best
        if best is None:
            return None
        per_start = bound.max(axis=0)
        per_start[best_q] = -np.inf
        return best, best_adj, float(per_start.max()), u, pool

    def reserves(self, order: P.Order, choice: P.Choice) -> dict[str, list[int]]:
        """Per skill, the best of those still free for the chosen slot (the crew's time is held)."""
        u, ok, static, _, _, _, months = self._eligible(order, [(choice.start, choice.end)])
        col = ok[:, 0]
        cand = u[col]
        key = self._score(u, col, static, int(months[0]))
        if choice.troupe is not None:
            key = key + self.inst.rules.weights.troupe * self.inst.members[self.inst.troupe_index[choice.troupe], cand]
        ranked = cand[np.lexsort((cand, -key))]
        crew = {i for i, _, _ in choice.crew}
        out = {}
        for s, _ in order.needs:
            mine = ranked[self.masks[s][ranked]]
            out[s] = [int(i) for i in mine[: P.RESERVES + len(crew)] if int(i) not in crew][: P.RESERVES]
        return out


def choice_of(inst: P.Instance, order: P.Order, start: int, end: int, troupe, crew) -> P.Choice:
    """A Choice of a slot, troupe and crew, each person's score by criterion (reserves later)."""
    w = inst.rules.weights
    dist = inst.distance(order.district)
    likes = inst.likes(order.kind, order.district)
    fm = inst.month_minutes if inst.fair_minutes is None else inst.fair_minutes
    m = inst.month_of(start)
    member = inst.members[inst.troupe_index[troupe]] if troupe is not None else None
    out, total = [], 0.0
    max_km = inst.rules.max_travel_km
    for i, skill in crew:
        parts = {
            "travel": w.travel * min(max(1.0 - float(dist[i]) / max_km, 0.0), 1.0),
            "fairness": w.fairness * (1.0 - min(float(fm[i, m]) / max(int(inst.month_limit[i]), 1), 1.0)),
            "troupe": w.troupe * float(member[i]) if member is not None else 0.0,
            "preference": w.preference * float(likes[i]),
        }
        out.append((int(i), skill, parts))
        total += sum(parts.values())
    value = w.serve + w.underserved * order.underserved + total
    return P.Choice(order.order_id, start, end, troupe, out, {}, value)


# ------------------------------------------------------------------ construction


TROUPE_SCARCITY = 0.5  # a troupe's scarce week costs up to half the bonus of one member sent with it


class Pressure:
    """Scarcity per volunteer and week: what the orders still waiting that week need of them
    over the deliveries they have left that week, priced at up to ``weight``."""

    def __init__(self, load: np.ndarray, inst: P.Instance, weight: float):
        self.load, self.weight = load, weight
        self.capacity = np.maximum(inst.week_limit[:, None] - inst.week_count, 1).astype(float)

    def at(self, who, weeks) -> np.ndarray:
        return self.weight * np.minimum(np.maximum(self.load[who, weeks], 0) / self.capacity[who, weeks], 1.0)

    tload: np.ndarray | None = None  # troupes × weeks: what the orders still waiting may ask of each
    tweight = 0.0

    def troupes_at(self, inst: P.Instance, pool, weeks) -> np.ndarray | None:
        """Scarcity per troupe and week: the orders still waiting that could send it that week
        over the deliveries it has left, priced at up to ``tweight``."""
        if self.tload is None or not self.tweight:
            return None
        left = np.maximum(inst.troupe_limit[pool][:, None] - inst.troupe_week[pool[:, None], weeks[None]], 1)
        return self.tweight * np.minimum(np.maximum(self.tload[pool[:, None], weeks[None]], 0) / left, 1.0)


def construct(
    inst: P.Instance, queue: list[P.Order], results: dict, fixed: dict, scarcity: float, demand: dict
) -> None:
    """Plan the orders in turn (hardest first), each held before the next; scarcity per week,
    of the volunteers and of the troupes."""
    w = inst.rules.weights
    W = len(inst.week_keys)
    V = len(inst.ids)
    load = np.zeros((V, W))
    weeks = {}
    for o in queue:
        shares = demand[o.order_id][0]
        slots = inst.slots(o)
        week = weeks[o.order_id] = inst.week_of(slots[0][0]) if slots else 0
        for who, share in shares:
            load[who, week] += share
    pressure = Pressure(load, inst, scarcity * (w.travel + w.fairness + w.preference))
    scorer = Scorer(inst)
    if TROUPE_SCARCITY and len(inst.troupe_ids):
        # a troupe's week is scarce too: the orders still waiting that could send it share it
        pressure.tload = np.zeros((len(inst.troupe_ids), W))
        pressure.tweight = scarcity * TROUPE_SCARCITY * w.troupe
        for o in queue:
            pool = scorer._pool(o)
            if len(pool):
                pressure.tload[pool, weeks[o.order_id]] += 1.0 / len(pool)
    for order in queue:
        shares, week = demand[order.order_id][0], weeks[order.order_id]
        for who, share in shares:
            load[who, week] -= share
        if pressure.tload is not None:
            pool = scorer._pool(order)
            if len(pool):
                pressure.tload[pool, week] -= 1.0 / len(pool)
        if order.order_id in fixed:
            inst.pressure = pressure.at(np.arange(V), week)
            got = P.plan_order(inst, order, **fixed[order.order_id])
            inst.pressure = np.zeros(V)
        else:
            best = scorer.best(order, pressure)
            got = choice_of(inst, order, *best) if best is not None else P.Miss(order.order_id, {}, {})
        if isinstance(got, P.Choice):
            inst.apply(order, got)
        results[order.order_id] = got


# ------------------------------------------------------------------ large neighbourhood search


class Search:
    """Destroy a part of the plan and plan it again exactly, while time allows."""

    MAX_ORDERS = 75  # the most orders one exact repair plans together at first (self.size adapts)
    MAX_SIZE = 150  # and at most
    LARGE = 300  # the most orders one regret insertion plans again (at least twice an exact repair)
    LIMIT = 0.3  # seconds one repair may take
    SWEEP_LIMIT = 1.0  # and one day of the sweep (the first, the least sure, may need more)

    def __init__(self, inst: P.Instance, orders: list[P.Order], results: dict, fixed: dict, seed: int = 1):
        self.inst, self.results, self.fixed = inst, results, fixed
        self.orders = [o for o in orders if o.order_id not in fixed]
        self.by_id = {o.order_id: o for o in orders}
        self.rng = random.Random(seed)
        self.day_of = {}
        by_day: dict[int, list[str]] = {}
        for o in self.orders:
            days = sorted({s // P.PER_DAY for s, _ in inst.slots(o)})
            self.day_of[o.order_id] = days
            for d in days:
                by_day.setdefault(d, []).append(o.order_id)
        self.by_day = by_day
        self.ops = {
            "blockers": self.blockers,
            "day": self.day_block,
            "worst": self.worst,
            "skill": self.skill_week,
            "blockers+": lambda: self.blockers(max(self.LARGE, 2 * self.size)),
            "days+": lambda: self.day_block(max(self.LARGE, 2 * self.size)),
            "skill+": lambda: self.skill_week(max(self.LARGE, 2 * self.size)),
        }
        # the exact repairs' size: larger while they close quickly, smaller when they run out of time
        self.size = self.MAX_ORDERS
        self.scorer = Scorer(inst)
        self.demand: dict = {}  # per order, who could fill its roles (planner._demand)
        self.near: dict = {}
        self.scarcity = 1.0
        self.skills = sorted({s for o in self.orders for s, _ in o.needs})
        self.weights = {k: 500.0 for k in self.ops}
        self.possible: dict[str, bool] = {}
        self.unsure: set[str] = set()  # orders the rounding did not plan as the relaxation did
        self.stats = {k: [0, 0.0, 0.0] for k in self.ops}  # calls, gain, seconds

    STALL = 40  # repairs in a row that gain nothing, after which the search stops early
    # the fewest orders a batch settles at first (settle): on a city's month the repairs revisit a
    # small part of the plan within the budget and settling gains far more (about 9,000 points in
    # 2 s); on a district's they revisit it many times over and do better from the construction's
    SETTLE_FROM = 2000
    # the most orders a batch starts again from its LP relaxation, rounded (rounded), and then
    # plans exactly day by day (sweep): on a district's month (1,000 orders) the relaxation takes
    # about a third of the budget and the two land within 1 % of the optimum, where the repairs
    # from the construction end 1 to 2 % below it; a city's relaxation is too large to solve
    ROUND_UP_TO = 1500
    ROUND_SHARE = 0.8  # of the search's time the relaxation may take at most (else it is left)
    # and only with this much search time per order (the district's relaxation takes 3 to 5 ms
    # per order to build and solve; with less time the repairs from the construction do better)
    ROUND_SECONDS_PER_ORDER = 0.005

    def run(self, deadline: float) -> None:
        from services.dispatch import exact  # HiGHS only where the search runs

        self.exact = exact
        if len(self.orders) <= self.MAX_ORDERS:  # small enough to plan exactly all at once
            self.repair([o.order_id for o in self.orders], deadline)
            return
        ops = list(self.ops)
        t = P.CLOCK()
        if len(self.orders) <= self.ROUND_UP_TO and deadline - t >= self.ROUND_SECONDS_PER_ORDER * len(self.orders):
            gain = self.rounded(t + self.ROUND_SHARE * (deadline - t))
            self.stats["rounded"] = [1, gain, P.CLOCK() - t]
            t = P.CLOCK()
            gain = self.sweep(deadline)
            self.stats["sweep"] = [1, gain, P.CLOCK() - t]
            # a regret insertion of hundreds of orders does not beat a plan exact day by day
            ops = [k for k in ops if not k.endswith("+")]
        elif len(self.orders) >= self.SETTLE_FROM:
            t = P.CLOCK()
            gain = self.settle(deadline)
            self.stats["settle"] = [1, gain, P.CLOCK() - t]
        stall = 0
        while P.CLOCK() < deadline - 0.05 and stall < self.STALL:
            name = self.rng.choices(ops, weights=[self.weights[k] for k in ops])[0]
            t = P.CLOCK()
            part = self.ops[name]()
            gain = self.repair(part, deadline) if part else 0.0
            stall = 0 if gain > 1e-6 else stall + 1
            spent = P.CLOCK() - t
            s = self.stats[name]
            s[0], s[1], s[2] = s[0] + 1, s[1] + gain, s[2] + spent
            if _DEBUG:
                print(name, len(part), round(gain, 1), round(spent, 3), flush=True)
            rate = gain / max(spent, 1e-3)
            self.weights[name] = max(20.0, 0.8 * self.weights[name] + 0.2 * rate)  # points per second

    def sweep(self, deadline: float) -> float:
        """Every day in turn planned again exactly, all its orders at once (orders of different
        days meet only in the week's and the month's limits and the troupes' weeks), those with
        the most orders the rounding was unsure of first. Returns the gain."""
        gain, size = 0.0, self.size
        # the days where the rounding left most to chance first, for when time runs short
        unsure = {d: sum(1 for i in ids if i in self.unsure) for d, ids in self.by_day.items()}
        for d in sorted(self.by_day, key=lambda d: (-unsure[d], d)):
            if P.CLOCK() > deadline - 0.05:
                break
            self.size = len(self.by_day[d])
            gain += self.repair(list(self.by_day[d]), deadline, self.SWEEP_LIMIT)
        self.size = size
        return gain

    def rounded(self, deadline: float, orders: list[P.Order] | None = None) -> float:
        """Plan ``orders`` (all of the batch by default) again from their LP relaxation
        (troupe-exact, exact.py), rounded: every order the relaxation serves in one slot more
        than half gets that slot, the orders whose crew (and troupe) it chose whole first, as it
        chose them while they still hold, then the others at that slot by the best crew left,
        else at their best slot; then the orders it serves less than half, and last the others,
        at their best slot. On a district's month the relaxation is nearly whole (nine orders in
        ten served in one slot) and this lands far nearer the optimum than the construction (on
        seed 7 about 135,900 against 127,700, the optimum 138,130). The relaxation stops at
        ``deadline`` (by planner.CLOCK). Kept when worth more than the plan it replaces;
        returns the gain."""
        import dataclasses

        inst, results = self.inst, self.results
        orders = self.orders if orders is None else orders
        old = {o.order_id: results[o.order_id] for o in orders}
        before = sum(r.value for r in old.values() if isinstance(r, P.Choice))
        for o in orders:
            if isinstance(old[o.order_id], P.Choice):
                inst.unapply(o, old[o.order_id])
        model = self.exact.Model(inst, orders)
        limit = deadline - P.CLOCK()
        got = None
        if limit > 0:
            got = model.solve(
                integer=False,
                time_limit=4 * limit,
                solver="simplex",
                presolve=False,
                until=(P.CLOCK, P.CLOCK() + limit),
            )
        new: dict[str, P.Choice] = {}
        if got is not None and got.status == "Optimal" and got.values is not None:
            v = got.values
            y = v[model.slot_y]
            best_k: dict[int, int] = {}
            for k in np.flatnonzero(y > 1e-6).tolist():
                n = int(model.slot_order[k])
                if n not in best_k or y[k] > y[best_k[n]]:
                    best_k[n] = k
            crew_of: dict[int, list] = {}
            for j in np.flatnonzero(v[model.x_col] > 0.5).tolist():
                crew_of.setdefault(int(model.x_slot[j]), []).append(
                    (int(model.x_vol[j]), model.skills[int(model.x_skill[j])])
                )
            troupe_of: dict[int, tuple[float, int]] = {}  # per slot, the troupe most sent
            for j in np.flatnonzero(v[model.z_col] > 1e-6).tolist():
                k, z = int(model.z_slot[j]), float(v[model.z_col[j]])
                if k not in troupe_of or z > troupe_of[k][0]:
                    troupe_of[k] = (z, int(model.z_troupe[j]))
            first = sorted(best_k, key=lambda n: (-y[best_k[n]], n))
            whole = [n for n in first if y[best_k[n]] > 0.5]
            rest = []
            for n in whole:
                o, k = orders[n], best_k[n]
                crew = crew_of.get(k, [])
                troupe = troupe_of.get(k)
                troupe = inst.troupe_ids[troupe[1]] if troupe is not None else None
                if troupe is not None and not inst.members[inst.troupe_index[troupe], [i for i, _ in crew]].any():
                    troupe = None
                start, end = int(model.slot_start[k]), int(model.slot_end[k])
                if self._holds(o, start, end, troupe, crew):
                    c = choice_of(inst, o, start, end, troupe, crew)
                    inst.apply(o, c)
                    new[o.order_id] = c
                else:
                    rest.append(n)
            served = set(best_k)
            others = [n for n in range(len(orders)) if n not in served]
            unsure = rest + [n for n in first if y[best_k[n]] <= 0.5] + others
            self.unsure.update(orders[n].order_id for n in unsure)
            self.unsure.update(orders[n].order_id for n in whole if y[best_k[n]] < 1 - 1e-6)
            for n in unsure:
                o, k = orders[n], best_k.get(n)
                best = None
                if k is not None and y[k] > 0.5:
                    best = self.scorer.best(
                        dataclasses.replace(o, windows=[(int(model.slot_start[k]), int(model.slot_end[k]))])
                    )
                if best is None:
                    best = self.scorer.best(o)
                if best is not None:
                    c = choice_of(inst, o, *best)
                    inst.apply(o, c)
                    new[o.order_id] = c
        after = sum(c.value for c in new.values())
        return self._keep_or_restore(orders, old, new, results, before, after, keep=after > before + 1e-6)

    def _keep_or_restore(self, orders, old: dict, new: dict, results: dict, before: float, after: float, keep: bool):
        """Keep the neighbourhood's new plan (``new``: order id → choice), or put the old one
        (``old``) back; each order's result written to ``results``; what was gained."""
        inst = self.inst
        if not keep:
            for o in orders:
                if o.order_id in new:
                    inst.unapply(o, new[o.order_id])
            new = {i: r for i, r in old.items() if isinstance(r, P.Choice)}
            for o in orders:
                if o.order_id in new:
                    inst.apply(o, new[o.order_id])
            after = before
        for o in orders:
            c = new.get(o.order_id)
            if c is not None:
                results[o.order_id] = c
            else:
                results[o.order_id] = (
                    old[o.order_id] if isinstance(old[o.order_id], P.Miss) else P.Miss(o.order_id, {}, {})
                )
        return after - before

    def _holds(self, o: P.Order, start: int, end: int, troupe, crew) -> bool:
        """Whether the crew (every role, each person once) and the troupe may take the order at
        [start, end) as the instance now stands (availability and travel aside)."""
        inst = self.inst
        roles = sorted(s for s, n in o.needs for _ in range(n))
        if sorted(s for _, s in crew) != roles or len({i for i, _ in crew}) != len(crew):
            return False
        c = np.array([i for i, _ in crew], dtype=np.int64)
        h = inst.rules.half_gap
        wk, mo = inst.week_of(start), inst.month_of(start)
        ok = inst.free_in(c, max(start - h, 0), min(end + h, inst.T)).all()
        ok = ok and (inst.week_count[c, wk] < inst.week_limit[c]).all()
        ok = ok and (inst.month_minutes[c, mo] + o.minutes <= inst.month_limit[c]).all()
        if ok and troupe is not None:
            j = inst.troupe_index[troupe]
            ok = inst.troupe_week[j, wk] < inst.troupe_limit[j]
        return bool(ok)

    def settle(self, deadline: float) -> float:
        """Each planned order in turn taken out and given its best slot, troupe and crew as the
        instance now stands, by value alone (the construction chose with the scarcity priced in,
        and for what the orders after it would need): kept when it is worth more. Returns the gain."""
        inst, results, gain = self.inst, self.results, 0.0
        for o in self.orders:
            if P.CLOCK() > deadline - 0.05:
                break
            r = results[o.order_id]
            if not isinstance(r, P.Choice):
                continue
            inst.unapply(o, r)
            got = self.scorer.best(o)
            c = choice_of(inst, o, *got) if got is not None else None
            if c is not None and c.value > r.value + 1e-6:
                inst.apply(o, c)
                results[o.order_id] = c
                gain += c.value - r.value
            else:
                inst.apply(o, r)
        return gain

    # -------------------------------------------------------------- destroy

    def _missed(self) -> list[str]:
        """The left-out orders that some crew could serve were nobody else planned."""
        return [o.order_id for o in self.orders if isinstance(self.results[o.order_id], P.Miss) and self._possible(o)]

    def _possible(self, order: P.Order) -> bool:
        got = self.possible.get(order.order_id)
        if got is None:
            inst = self.inst
            near = inst.distance(order.district)
            got = False
            for a, b in inst.slots(order):
                enough = True
                for s, n in order.needs:
                    c = inst.by_skill.get(s, np.zeros(0, dtype=np.int64))
                    c = c[(near[c] <= inst.max_km[c]) & (inst.avail_sum[c, b] - inst.avail_sum[c, a] == b - a)]
                    enough &= len(c) >= n
                if enough:
                    got = True
                    break
            self.possible[order.order_id] = got
        return got

    def _cap(self, ids: list[str], keep: list[str], size: int | None = None) -> list[str]:
        size = size or self.size
        rest = [i for i in dict.fromkeys(ids) if i not in keep]
        self.rng.shuffle(rest)
        return list(dict.fromkeys(keep)) + rest[: max(0, size - len(keep))]

    def blockers(self, size: int | None = None) -> list[str]:
        """A left-out order, the orders holding its candidates at its times (same day) and those
        using up its candidates' week, and the other left-out orders of that day."""
        missed = self._missed()
        if not missed:
            return self.worst()
        if size:  # several left-out orders of one week, and what holds their candidates
            oid = self.rng.choice(missed)
            week = {self.inst.week_of(d * P.PER_DAY) for d in self.day_of.get(oid, [])}
            picked = [m for m in missed if {self.inst.week_of(d * P.PER_DAY) for d in self.day_of.get(m, [])} & week]
            self.rng.shuffle(picked)
            out: list[str] = []
            for m in picked[:12]:
                out += self._blocking(m)
            return self._cap(out, picked[:12], size)
        oid = self.rng.choice(missed)
        out = self._blocking(oid)
        if len(out) < self.size // 2:  # room for the blockers of another left-out order of that week
            week = {self.inst.week_of(d * P.PER_DAY) for d in self.day_of.get(oid, [])}
            others = [
                m
                for m in missed
                if m != oid and {self.inst.week_of(d * P.PER_DAY) for d in self.day_of.get(m, [])} & week
            ]
            self.rng.shuffle(others)
            for m in others[:3]:
                more = self._blocking(m)
                if len(set(out) | set(more)) > self.size:
                    break
                out = list(dict.fromkeys(out + more))
        return self._cap(out, [oid])

    def _blocking(self, oid: str) -> list[str]:
        missed = self._missed()
        order, inst = self.by_id[oid], self.inst
        days = set(self.day_of.get(oid, []))
        skills = {s for s, _ in order.needs}
        near = inst.distance(order.district)
        people = set()
        for s in skills:
            c = inst.by_skill.get(s, np.zeros(0, dtype=np.int64))
            c = c[near[c] <= inst.max_km[c]]
            for a, b in inst.slots(order):
                free = inst.avail_sum[c, b] - inst.avail_sum[c, a] == b - a
                people.update(c[free].tolist())
        weeks = {inst.week_of(d * P.PER_DAY) for d in days}
        blocking = []
        for other in self.orders:
            r = self.results[other.order_id]
            if not isinstance(r, P.Choice):
                continue
            day, week = r.start // P.PER_DAY, inst.week_of(r.start)
            if any(i in people for i, _, _ in r.crew) and (day in days or week in weeks):
                blocking.append((day not in days, other.order_id))
        self.rng.shuffle(blocking)
        blocking.sort(key=lambda x: x[0])  # the same day first
        same_day = [m for m in missed if set(self.day_of.get(m, [])) & days]
        return [oid, *(b for _, b in blocking), *same_day]

    def day_block(self, size: int | None = None) -> list[str]:
        """All orders of a day (of a group of districts when the day has more than a repair holds)."""
        days = sorted(self.by_day)
        at = self.rng.randrange(len(days))
        ids = list(self.by_day[days[at]])
        if size:  # the day and the next, as much as the insertion holds
            ids = list(dict.fromkeys(ids + self.by_day[days[(at + 1) % len(days)]]))
            return self._cap(ids, [], size)
        if len(ids) > self.size:
            districts = sorted({self.by_id[i].district for i in ids})
            self.rng.shuffle(districts)
            picked: list[str] = []
            for d in districts:
                more = [i for i in ids if self.by_id[i].district == d]
                if picked and len(picked) + len(more) > self.size:
                    continue
                picked += more
            ids = picked
        return self._cap(ids, [])

    def skill_week(self, size: int | None = None) -> list[str]:
        """The orders of a week that need a skill, left out ones first: who has the skill can be
        moved among them within the week's limits."""
        inst = self.inst
        week = self.rng.randrange(len(inst.week_keys))
        missed = set(self._missed())
        lacking = [s for o in self.orders if o.order_id in missed for s, _ in o.needs]
        skill = self.rng.choice(lacking or self.skills)
        ids_missed, ids_planned = [], []
        for o in self.orders:
            if skill not in (s for s, _ in o.needs):
                continue
            r = self.results[o.order_id]
            if isinstance(r, P.Choice):
                if inst.week_of(r.start) == week:
                    ids_planned.append(o.order_id)
            elif any(inst.week_of(d * P.PER_DAY) == week for d in self.day_of.get(o.order_id, [])):
                ids_missed.append(o.order_id)
        self.rng.shuffle(ids_missed)
        if size:
            return self._cap(ids_missed + ids_planned, ids_missed[: size // 4], size)
        return self._cap(ids_missed[: self.size // 3] + ids_planned, [])

    def worst(self) -> list[str]:
        """The planned orders of a week worth least per person, with the left-out ones of their days."""
        week = self.rng.randrange(len(self.inst.week_keys))
        planned = [
            (r.value / max(len(r.crew), 1), o.order_id)
            for o in self.orders
            if isinstance(r := self.results[o.order_id], P.Choice) and self.inst.week_of(r.start) == week
        ]
        planned.sort()
        ids = [oid for _, oid in planned[: self.size // 2]]
        days = {d for i in ids for d in self.day_of.get(i, [])}
        missed = [m for m in self._missed() if set(self.day_of.get(m, [])) & days]
        return self._cap(ids + missed, [])

    # -------------------------------------------------------------- repair

    def repair(self, ids: list[str], deadline: float, limit: float | None = None) -> float:
        """Plan ``ids`` again, everything else held: exactly by the MIP when they are few (within
        ``limit`` seconds, ``LIMIT`` by default), else by regret insertion; keep the new plan
        when it is not worse."""
        inst, results = self.inst, self.results
        orders = [self.by_id[i] for i in ids]
        old = {i: results[i] for i in ids}
        before = sum(r.value for r in old.values() if isinstance(r, P.Choice))
        for o in orders:
            if isinstance(old[o.order_id], P.Choice):
                inst.unapply(o, old[o.order_id])
        if len(orders) > self.size:
            return self.regret(orders, old, before)
        model = self.exact.Model(inst, orders)
        t = P.CLOCK()
        limit = min(limit or self.LIMIT, deadline - t)
        got = model.solve(
            integer=True,
            time_limit=4 * limit,
            start=old,
            threads=1,
            gap=1e-6,
            presolve=False,
            until=(P.CLOCK, t + limit),
        )
        spent = P.CLOCK() - t
        plan = model.plan() if got.values is not None else None
        if got.status == "Optimal" and spent < self.LIMIT / 4:
            self.size = min(self.MAX_SIZE, max(self.size + 1, int(self.size * 1.1)))
        elif got.status != "Optimal":
            self.size = max(min(30, self.MAX_ORDERS), int(self.size * 0.85))
        if _DEBUG:
            print(
                "  build",
                round(model.build_seconds, 3),
                "cols",
                model.n_col,
                "solve",
                round(got.seconds, 3),
                got.status,
                flush=True,
            )
        new = {}
        if plan is not None:
            for n, (start, end, troupe, crew) in plan.items():
                o = orders[n]
                new[o.order_id] = choice_of(inst, o, start, end, troupe, crew)
        after = sum(c.value for c in new.values())
        if plan is None or after < before - 1e-6:
            new = {i: r for i, r in old.items() if isinstance(r, P.Choice)}
            after = before
        for o in orders:
            c = new.get(o.order_id)
            if c is not None:
                inst.apply(o, c)
                results[o.order_id] = c
            else:
                results[o.order_id] = (
                    old[o.order_id] if isinstance(old[o.order_id], P.Miss) else P.Miss(o.order_id, {}, {})
                )
        return after - before

    def regret(self, orders: list[P.Order], old: dict, before: float) -> float:
        """Regret insertion of ``orders`` (taken out of the instance): the order that would lose
        most if it waited (its best crew's value over its best other start's, or all its value
        when it has no other) goes first. While inserting, the instance only fills up, so an
        order's best crew, as long as it can still be held, stays its best: it is looked at
        again only when someone or the troupe of it was taken. Scarcity is priced as in the
        construction, by what the orders still waiting need of each person that week."""
        import heapq

        inst, results, sc, w = self.inst, self.results, self.scorer, self.inst.rules.weights
        V, W = len(inst.ids), len(inst.week_keys)
        load = np.zeros((V, W))
        shares = {}
        for o in orders:
            got = self.demand.get(o.order_id)
            if got is None:
                got = self.demand[o.order_id] = P._demand(inst, o, self.near)
            slots = inst.slots(o)
            week = inst.week_of(slots[0][0]) if slots else 0
            shares[o.order_id] = (got[0], week)
            for who, share in got[0]:
                load[who, week] += share
        pressure = Pressure(load, inst, self.scarcity * (w.travel + w.fairness + w.preference))
        heap: list = []
        seq = 0

        def look(o: P.Order) -> None:
            nonlocal seq
            got = sc.best(o, pressure, detail=True)
            if got is None:
                return
            best, adj, second, _, _ = got
            base = w.serve + w.underserved * o.underserved
            regret = adj - second if second > -math.inf else base + adj
            regret *= 1.0 + 0.3 * self.rng.random()  # a little noise: another order each time
            heapq.heappush(heap, (-regret, seq, o, best))
            seq += 1

        for o in orders:
            look(o)
        new: dict[str, P.Choice] = {}
        while heap:
            _, _, o, best = heapq.heappop(heap)
            if not self._holds(o, *best):
                look(o)
                continue
            c = choice_of(inst, o, *best)
            inst.apply(o, c)
            new[o.order_id] = c
            got, week = shares[o.order_id]
            for who, share in got:
                load[who, week] -= share
        after = sum(c.value for c in new.values())
        if _DEBUG:
            served = sum(isinstance(r, P.Choice) for r in old.values())
            print("  regret", len(orders), "looks", seq, "served", len(new), "of", served, round(after - before, 1))
        return self._keep_or_restore(orders, old, new, results, before, after, keep=after >= before - 1e-6)
