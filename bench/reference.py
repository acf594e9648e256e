"""Upper bounds on the best objective of a dispatch instance, troupes modelled exactly
(services/dispatch/exact.py): the MIP solved by HiGHS to a proven bound (the district), its LP
relaxation, and a Lagrangian relaxation that scales to a city's month.

Every bound here is on the planner's objective exactly: a troupe's weekly limit holds, and its
bonus is earned only by its members in the crew of an order it is sent to.
"""

from __future__ import annotations

import time

import numpy as np

from services.dispatch import exact
from services.dispatch import planner as P


def lp_bound(inst: P.Instance, orders: list[P.Order], time_limit: float = 600.0, integer: bool = False, **kw) -> dict:
    """The troupe-exact model solved by HiGHS: its LP relaxation, or (``integer``) the MIP within
    ``time_limit``, with the proven bound, the best plan found and how many orders it serves."""
    started = time.perf_counter()
    model = exact.Model(inst, orders)
    got = model.solve(integer=integer, time_limit=time_limit, threads=2, **kw)
    return {
        "bound": float(got.bound),
        "best": float(got.objective),
        "status": got.status,
        "served": round(got.served, 1),
        "columns": int(model.n_col),
        "rows": int(model.n_row),
        "nonzeros": int(model.nonzeros),
        "build_seconds": round(model.build_seconds, 2),
        "seconds": round(time.perf_counter() - started, 2),
    }


def _segments(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For sorted ``keys``: each entry's rank within its run of equal keys, and the run's start."""
    n = len(keys)
    if not n:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    new = np.ones(n, dtype=bool)
    new[1:] = keys[1:] != keys[:-1]
    start = np.flatnonzero(new)
    run = np.cumsum(new) - 1
    return np.arange(n) - start[run], start[run]


def _seg_max(vals: np.ndarray, starts: np.ndarray, seg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per segment (its entries contiguous from ``starts``, ``seg`` each entry's segment): the
    largest value and the first position that holds it. Exact: no sort, no rounding."""
    n = len(vals)
    best = np.maximum.reduceat(vals, starts)
    at = np.minimum.reduceat(np.where(vals == best[seg], np.arange(n), n), starts)
    return best, at


class _Runs:
    """Contiguous runs of a sorted segment index, and the sub-runs of those that take two (the
    roles of two people): what the top one and top two of each run are read with."""

    def __init__(self, seg: np.ndarray, n_seg: int, count: np.ndarray):
        self.seg = seg
        self.starts = np.searchsorted(seg, np.arange(n_seg)).astype(np.int64)
        self.two_segs = np.flatnonzero(count >= 2)
        self.two = np.flatnonzero(count[seg] >= 2)  # entries of those runs, still contiguous per run
        sub = seg[self.two]
        self.sub_seg = np.searchsorted(self.two_segs, sub)
        self.sub_starts = np.searchsorted(self.sub_seg, np.arange(len(self.two_segs))).astype(np.int64)

    def top(self, vals: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The best of each run and where; the second best of each run of two and where
        (-inf where such a run has one entry)."""
        m1, p1 = _seg_max(vals, self.starts, self.seg)
        if not len(self.two):
            return m1, p1, np.zeros(0), np.zeros(0, dtype=np.int64)
        v2 = np.where(self.two == p1[self.seg[self.two]], -np.inf, vals[self.two])
        m2, q = _seg_max(v2, self.sub_starts, self.sub_seg)
        return m1, p1, m2, self.two[np.minimum(q, len(self.two) - 1)]


def lagrangian_bound(
    inst: P.Instance,
    orders: list[P.Order],
    target: float,
    iterations: int = 300,
    time_limit: float = 120.0,
    theta: float = 1.0,
    patience: int = 20,
    deflect: float = 0.8,
    warm: bool = True,
) -> dict:
    """An upper bound by Lagrangian relaxation of the troupe-exact model: the constraints that tie
    orders together (no overlap with the rest gap, a volunteer's weekly deliveries and monthly
    minutes, a troupe's weekly deliveries) are priced by multipliers λ ≥ 0; each order then picks
    its best slot, troupe and people alone at those prices. For every λ,
    Σ orders' best + λ·(what is left of each limit) is an upper bound on the objective.

    With a troupe sent, a role's crew is one of: its two best members, its best member and the
    best non-member, or its best two (for a role of one: the best member or the best); the bonus
    is counted per role (a member in two roles would earn it twice), so each value is still an
    upper bound on the order's best at those prices, and the crew it takes gives the subgradient.
    The multipliers move along the subgradient deflected by the previous direction
    (``deflect``), with Polyak's step towards ``target`` (the best plan known); the step's factor
    halves when ``patience`` iterations bring no lower bound, and the lowest value seen is
    reported. Each order's choice is integer, so the bound may end below the LP relaxation's
    (never below the optimum: on the district it ends at the LP's level, 0.8 % above it).

    ``warm``: the troupes' weekly prices start at the optimal duals of the troupes' transport
    problem (each order alone takes its best slot and people, with or without one of its troupes;
    a troupe's week holds its deliveries left), so the first bound already counts what the
    troupes' limits cost; the subgradient goes on from there.

    One iteration is linear in the columns: the entries are laid out once by role (slot, skill)
    and by (troupe option, role), so the best one or two of each are maxima over contiguous runs
    (no sort); a column's no-overlap price is a difference of prefix sums (its rows are one run of
    its volunteer's start points). ``time_limit`` is in this process's CPU seconds."""
    started, cpu0 = time.perf_counter(), time.process_time()
    m = exact.Model(inst, orders, constraints=False)
    wt = inst.rules.weights.troupe
    # the x laid out by role (slot, skill): each role's candidates one run
    gkey0 = m.x_slot * 64 + m.x_skill
    perm = np.argsort(gkey0, kind="stable")
    gkey = gkey0[perm]
    score = m.cost[m.x_col][perm]
    nx = len(score)
    vol, a, b = m.x_vol[perm], m.x_a[perm], m.x_b[perm]
    x_week, x_month, x_min = m.x_week[perm], m.x_month[perm], m.x_min[perm].astype(float)
    big = inst.T + 1
    # no overlap: one row per volunteer and padded start point; x is in the rows [lo, hi)
    keys = np.unique(vol * big + a)
    lo = np.searchsorted(keys, vol * big + a)
    hi = np.searchsorted(keys, vol * big + b)
    n_ov = len(keys)
    wkey, wrow = np.unique(vol * 1000 + x_week, return_inverse=True)
    mkey, mrow = np.unique(vol * 1000 + x_month, return_inverse=True)
    wv, ww, mv, mm = wkey // 1000, wkey % 1000, mkey // 1000, mkey % 1000
    # troupes' weeks
    z_week = np.array([inst.week_of(int(s)) for s in m.slot_start[m.z_slot]], dtype=np.int64)
    tkey, trow = np.unique(m.z_troupe * 1000 + z_week, return_inverse=True)
    tt, tw = tkey // 1000, tkey % 1000
    n_w, n_m, n_t = len(wkey), len(mkey), len(tkey)
    rhs = np.concatenate(
        [
            np.ones(n_ov),
            (inst.week_limit[wv] - inst.week_count[wv, ww]).astype(float),
            (inst.month_limit[mv] - inst.month_minutes[mv, mm]).astype(float),
            (inst.troupe_limit[tt] - inst.troupe_week[tt, tw]).astype(float),
        ]
    )
    o_w, o_m, o_t = n_ov, n_ov + n_w, n_ov + n_w + n_m
    n_rows = len(rhs)
    scale = np.ones(n_rows)
    scale[o_m:o_t] = 1.0 / 60.0  # minutes priced per hour

    # roles (slot, skill), with their counts
    gid_keys, group = np.unique(gkey, return_inverse=True)
    n_g = len(gid_keys)
    g_slot = gid_keys // 64
    g_count = np.array(
        [m.counts[(int(m.slot_order[s]), m.skills[int(k)])] for s, k in zip(g_slot, gid_keys % 64, strict=True)],
        dtype=np.int64,
    )
    roles = _Runs(group, n_g, g_count)
    n_slots = len(m.slot_y)
    g_per_slot = np.bincount(g_slot, minlength=n_slots)
    base = m.cost[m.slot_y]
    # the slots of an order are one run (the model makes them order by order)
    o_with = np.unique(m.slot_order)
    o_seg = np.searchsorted(o_with, m.slot_order)
    o_starts = np.searchsorted(o_seg, np.arange(len(o_with))).astype(np.int64)
    # the x a troupe option could boost: (option j, x) where x is in j's slot and its person a member
    by_slot = np.argsort(m.x_slot[perm], kind="stable")
    xs_sorted = m.x_slot[perm][by_slot]
    s_first = np.searchsorted(xs_sorted, np.arange(n_slots))
    s_last = np.searchsorted(xs_sorted, np.arange(n_slots), side="right")
    n_z = len(m.z_col)
    inc_j = np.zeros(0, dtype=np.int64)
    inc_x = np.zeros(0, dtype=np.int64)
    if n_z:
        span = s_last[m.z_slot] - s_first[m.z_slot]
        rep_j = np.repeat(np.arange(n_z), span)
        off = np.arange(span.sum()) - np.repeat(np.cumsum(span) - span, span)
        rep_x = by_slot[np.repeat(s_first[m.z_slot], span) + off]
        member = inst.members[m.z_troupe[rep_j], vol[rep_x]]
        inc_j, inc_x = rep_j[member], rep_x[member]
        # sorted by (option, role) so that each pair's incidences are one run
        o = np.lexsort((group[inc_x], inc_j))
        inc_j, inc_x = inc_j[o], inc_x[o]
    pair_key = inc_j * (n_g + 1) + group[inc_x]
    p_keys, p_seg = np.unique(pair_key, return_inverse=True)
    p_j, p_g = p_keys // (n_g + 1), p_keys % (n_g + 1)
    pairs = _Runs(p_seg, len(p_keys), g_count[p_g]) if len(p_keys) else None
    p_troupe = m.z_troupe[p_j] if len(p_keys) else np.zeros(0, dtype=np.int64)

    def p1_member(x: np.ndarray, at: np.ndarray) -> np.ndarray:
        """Whether the person of column ``x`` is a member of the troupe of pair ``at``."""
        return inst.members[p_troupe[at], vol[x]]

    # troupe options by slot
    if n_z:
        zperm = np.argsort(m.z_slot, kind="stable")
        z_slots, z_seg = np.unique(m.z_slot[zperm], return_inverse=True)
        z_starts = np.searchsorted(z_seg, np.arange(len(z_slots))).astype(np.int64)
    # what rounding can take from a bound: each column's price is a sum of at most n_ov + 2 terms
    roles_total = float(sum(c for o in orders for _, c in o.needs))
    eps = float(np.finfo(float).eps)

    lam = np.zeros(n_rows)
    warm_bound = None
    if warm and n_z:
        lam[o_t:], warm_bound = _troupe_prices(
            m, orders, score, group, g_count, g_slot, base, inc_j, inc_x, pair_key, wt, trow, rhs[o_t:]
        )
    direction = np.zeros(n_rows)
    best, best_at, history, best_lam = np.inf, None, [], lam
    relaxed: dict = {}
    stall = 0
    built = time.perf_counter() - started
    cpu_built = time.process_time() - cpu0
    done = 0
    while done < iterations:
        done += 1
        lam_ov, lam_w, lam_m, lam_t = lam[:o_w], lam[o_w:o_m], lam[o_m:o_t], lam[o_t:]
        cum = np.concatenate([[0.0], np.cumsum(lam_ov)])
        rc = score - (cum[hi] - cum[lo]) - lam_w[wrow] - lam_m[mrow] * x_min
        m1, p1, m2, p2 = roles.top(rc)
        gval = m1.copy()
        thr = m1.copy()
        gval[roles.two_segs] += m2
        thr[roles.two_segs] = m2
        finite = np.isfinite(thr)
        full = np.bincount(g_slot, weights=finite, minlength=n_slots) == g_per_slot
        sval = base + np.bincount(g_slot, weights=np.where(finite, gval, 0.0), minlength=n_slots)
        # a troupe's gain: per (option, role) the top count of max(0, rc + bonus - threshold)
        tgain = np.zeros(n_slots)
        best_j = np.full(n_slots, -1)
        if n_z:
            gain_j = -lam_t[trow]
            if pairs is not None:
                # the troupe's members' best two in the role, against the role's best two: the
                # crew with the troupe takes two members, or one and the best non-member, or none
                a1, pa1, a2, pa2 = pairs.top(rc[inc_x])
                f1 = np.where(np.isfinite(m1[p_g]), m1[p_g], 0.0)
                psum = np.maximum(0.0, a1 + wt - f1)  # roles of one: exact
                # who that crew is (the relaxation's plan, for the subgradient)
                px1 = np.where(psum > 0, inc_x[pa1], p1[p_g])
                if len(pairs.two_segs):
                    g2 = p_g[pairs.two_segs]
                    t1, t2 = m1[g2], thr[g2]
                    ok2 = np.isfinite(t2)
                    t2 = np.where(ok2, t2, 0.0)
                    # the best non-member: the role's best unless that one is a member
                    n1 = np.where(p1_member(p1[g2], pairs.two_segs), t2, t1)
                    b1 = a1[pairs.two_segs]
                    one = b1 + wt + n1 - t1 - t2
                    both = np.where(np.isfinite(a2), b1 + a2 + 2 * wt - t1 - t2, -np.inf)
                    psum[pairs.two_segs] = np.where(ok2, np.maximum(0.0, np.maximum(one, both)), 0.0)
                    at2 = np.searchsorted(roles.two_segs, g2)
                    take_both = ok2 & (both >= one) & (both > 0)
                    take_one = ok2 & ~take_both & (one > 0)
                    px1[pairs.two_segs] = np.where(take_both | take_one, inc_x[pa1[pairs.two_segs]], p1[g2])
                    px2 = np.where(
                        take_both, inc_x[pa2], np.where(take_one & (n1 == t1), p1[g2], p2[np.minimum(at2, len(p2) - 1)])
                    )
                gain_j = gain_j + np.bincount(p_j, weights=psum, minlength=n_z)
            zg, zp = _seg_max(gain_j[zperm], z_starts, z_seg)
            tgain[z_slots] = np.maximum(zg, 0.0)
            best_j[z_slots] = np.where(zg > 0, zperm[zp], -1)
        sval = np.where(full, sval + tgain, -np.inf)
        om, op = _seg_max(sval, o_starts, o_seg)
        oval = np.maximum(om, 0.0)
        dual = float(lam @ rhs)
        total = float(oval.sum()) + dual
        # rounding: every price a column pays is a sum of at most n_ov + 2 rounded terms
        scale_err = float(cum[-1] + lam_w.max(initial=0) + lam_m.max(initial=0) * x_min.max(initial=0))
        scale_err += float(np.abs(score).max(initial=0)) + wt
        safety = 4 * eps * (n_ov + 4) * scale_err * 2 * roles_total + 4 * eps * (abs(total) + len(rhs) * abs(dual))
        value = total + safety
        at_best = value < best - 1e-6
        if at_best:
            best, best_at, stall, best_lam = value, done - 1, 0, lam
        else:
            stall += 1
            if stall >= patience or value > best + abs(best):  # a step far too long: back to the best prices
                theta, stall = theta / 2, 0
                if value > best + abs(best):
                    lam, direction = best_lam, np.zeros(n_rows)
                    continue
        history.append(value)
        # the plan of the relaxation at these prices: its subgradient
        chosen = np.zeros(n_slots, dtype=bool)
        chosen[op[om > 0]] = True
        # each chosen role's people: the best ones, or in a slot a troupe is sent to, that crew
        pick1 = p1.copy()
        pick2 = p2.copy()
        if n_z and pairs is not None:
            gs = np.flatnonzero(chosen[g_slot] & (best_j[g_slot] >= 0))
            pk = best_j[g_slot[gs]] * (n_g + 1) + gs
            q = np.minimum(np.searchsorted(p_keys, pk), len(p_keys) - 1)
            hit = p_keys[q] == pk
            gs, q = gs[hit], q[hit]
            pick1[gs] = px1[q]
            if len(pairs.two_segs):
                two = g_count[gs] >= 2
                q2 = np.searchsorted(pairs.two_segs, q[two])
                pick2[np.searchsorted(roles.two_segs, gs[two])] = px2[q2]
        sel = pick1[chosen[g_slot]]
        if len(roles.two_segs):
            sel = np.concatenate([sel, pick2[chosen[g_slot[roles.two_segs]]]])
        diff = np.bincount(lo[sel], minlength=n_ov + 1) - np.bincount(hi[sel], minlength=n_ov + 1)
        used = np.concatenate(
            [
                np.cumsum(diff)[:n_ov].astype(float),
                np.bincount(wrow[sel], minlength=n_w).astype(float),
                np.bincount(mrow[sel], weights=x_min[sel], minlength=n_m),
                np.bincount(trow[best_j[chosen & (best_j >= 0)]], minlength=n_t).astype(float),
            ]
        )
        if at_best:  # what the relaxation's plan does at the best prices: whom it serves, what it overfills
            over = used > rhs + 1e-9
            relaxed = {
                "served": int(chosen.sum()),
                "troupes_sent": int((chosen & (best_j >= 0)).sum()),
                "rows_overfilled": {
                    name: int(over[a_:b_].sum())
                    for name, a_, b_ in (
                        ("no_overlap", 0, o_w),
                        ("week", o_w, o_m),
                        ("month", o_m, o_t),
                        ("troupe_week", o_t, n_rows),
                    )
                },
            }
        grad = (rhs - used) * scale
        grad[(lam <= 0) & (grad > 0)] = 0.0  # a price at zero cannot go lower
        direction = grad + deflect * direction
        direction[(lam <= 0) & (direction > 0)] = 0.0
        norm = float(direction @ direction)
        if norm == 0 or theta < 1e-5 or time.process_time() - cpu0 > time_limit:
            break
        step = theta * max(value - target, 1e-3) / norm
        lam = np.maximum(0.0, lam - step * direction * scale)
    return {
        "bound": best,
        "warm_bound": warm_bound,
        "status": f"subgradient, {len(history)} iterations (best at {best_at})",
        "theta": theta,
        "history": [round(history[k]) for k in range(0, len(history), max(1, len(history) // 12))],
        "relaxation_at_best": relaxed,
        "columns": int(nx + n_slots + n_z + len(m.b_col)),
        "rows": int(n_rows),
        "build_seconds": round(built, 2),
        "build_cpu_seconds": round(cpu_built, 2),
        "seconds": round(time.perf_counter() - started, 2),
        "cpu_seconds": round(time.process_time() - cpu0, 2),
    }


def _troupe_prices(m, orders, score, group, g_count, g_slot, base, inc_j, inc_x, pair_key, wt, trow, cap):
    """The troupe-week prices of the transport problem: per order, its best value alone
    without a troupe, and with each (troupe, week) its troupes could be sent in; the LP (whose
    matrix is totally unimodular, so its optimum is the problem's) gives each troupe-week's
    dual price. Returns the prices and the LP's value (a bound of its own)."""
    import highspy

    n_slots, n_orders = len(m.slot_y), len(orders)
    order_ix = np.lexsort((-score, group))
    g_sorted = group[order_ix]
    rank, _ = _segments(g_sorted)
    take = rank < g_count[g_sorted]
    gval = np.bincount(g_sorted[take], weights=score[order_ix][take], minlength=len(g_count))
    thr = np.full(len(g_count), -np.inf)
    last = take & (rank == g_count[g_sorted] - 1)
    thr[g_sorted[last]] = score[order_ix][last]
    full = np.bincount(g_slot, weights=np.isfinite(thr), minlength=n_slots) == np.bincount(g_slot, minlength=n_slots)
    sval = np.where(full, base + np.bincount(g_slot, weights=gval, minlength=n_slots), -np.inf)
    n_z = len(m.z_col)
    gi = group[inc_x]
    val = np.maximum(0.0, score[inc_x] + wt - thr[gi])
    o = np.lexsort((-val, pair_key))
    r_, _ = _segments(pair_key[o])
    keep = r_ < g_count[gi[o]]
    gain_j = np.bincount(inc_j[o][keep], weights=val[o][keep], minlength=n_z)
    v0 = np.zeros(n_orders)
    np.maximum.at(v0, m.slot_order, np.where(np.isfinite(sval), sval, 0.0))
    # per (order, troupe-week): the best slot's value with the troupe, over the order's best without
    zval = sval[m.z_slot] + gain_j
    zo = m.slot_order[m.z_slot]
    gain = zval - v0[zo]
    sel = np.isfinite(gain) & (gain > 1e-9)
    key = zo[sel] * (len(cap) + 1) + trow[sel]
    keys, inv = np.unique(key, return_inverse=True)
    g = np.full(len(keys), -np.inf)
    np.maximum.at(g, inv, gain[sel])
    ko, kr = keys // (len(cap) + 1), keys % (len(cap) + 1)
    uo, orow = np.unique(ko, return_inverse=True)
    n_col, n_row = len(keys), len(uo) + len(cap)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n_col, n_row
    lp.col_cost_ = g
    lp.col_lower_, lp.col_upper_ = np.zeros(n_col), np.ones(n_col)
    lp.row_lower_ = np.full(n_row, -np.inf)
    lp.row_upper_ = np.concatenate([np.ones(len(uo)), np.maximum(cap, 0.0)])
    lp.sense_ = highspy.ObjSense.kMaximize
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = (2 * np.arange(n_col + 1)).astype(np.int32)
    lp.a_matrix_.index_ = np.stack([orow, len(uo) + kr], axis=1).ravel().astype(np.int32)
    lp.a_matrix_.value_ = np.ones(2 * n_col)
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = n_col, n_row
    if exact._threads is not None and exact._threads != 1:
        # HiGHS keeps one pool of threads per process (exact.Model.solve): ask for the same count
        highspy.Highs.resetGlobalScheduler(True)
    exact._threads = 1
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    h.passModel(lp)
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:  # no prices: start from zero
        return np.zeros(len(cap)), None
    duals = np.abs(np.asarray(h.getSolution().row_dual)[len(uo) :])
    return duals, float(v0.sum() + h.getInfo().objective_function_value)
