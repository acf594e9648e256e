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


def _by_key_best_first(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, float]:
    """The order of entries by ``keys``, the highest ``values`` first within a key: one sort of
    a float key (many times faster than a lexsort of the pair). Values nearer than the float's
    resolution may come in either order; the second value returned bounds what that can take
    from the sums of the best ones (added to the bound, so that it stays a bound)."""
    if not len(keys):
        return np.zeros(0, dtype=np.int64), 0.0
    lo, hi = float(values.min()), float(values.max())
    span = hi - lo + 1.0
    key = keys * span - values
    resolution = float(np.spacing(max(abs(float(key.max())), abs(float(key.min())))))
    return np.argsort(key, kind="quicksort"), 4 * resolution * len(keys)


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

    A troupe's bonus in a role is bounded by what its members could add over the role's
    count-th best candidate (exact for roles of one person, an over-estimate otherwise), so every
    value is still an upper bound. The multipliers move along the subgradient deflected by the
    previous direction (``deflect``), with Polyak's step
    towards ``target`` (the best plan known); the step's factor halves when ``patience``
    iterations bring no lower bound, and the lowest value seen is reported.

    ``warm``: the troupes' weekly prices start at the optimal duals of the troupes' transport
    problem (each order alone takes its best slot and people, with or without one of its troupes;
    a troupe's week holds its deliveries left), so the first bound already counts what the
    troupes' limits cost; the subgradient goes on from there."""
    started = time.perf_counter()
    m = exact.Model(inst, orders, constraints=False)
    wt = inst.rules.weights.troupe
    score = m.cost[m.x_col]
    nx = len(score)
    vol, a, b = m.x_vol, m.x_a, m.x_b
    big = inst.T + 1
    # no overlap: one row per volunteer and padded start point holding the x whose interval has it
    keys = np.unique(vol * big + a)
    lo = np.searchsorted(keys, vol * big + a)
    hi = np.searchsorted(keys, vol * big + b)
    length = hi - lo
    ov_x = np.repeat(np.arange(nx), length)
    ov_row = np.repeat(lo, length) + (np.arange(length.sum()) - np.repeat(np.cumsum(length) - length, length))
    n_ov = len(keys)
    wkey, wrow = np.unique(vol * 1000 + m.x_week, return_inverse=True)
    mkey, mrow = np.unique(vol * 1000 + m.x_month, return_inverse=True)
    wv, ww, mv, mm = wkey // 1000, wkey % 1000, mkey // 1000, mkey % 1000
    # troupes' weeks
    z_week = np.array([inst.week_of(int(s)) for s in m.slot_start[m.z_slot]], dtype=np.int64)
    tkey, trow = np.unique(m.z_troupe * 1000 + z_week, return_inverse=True)
    tt, tw = tkey // 1000, tkey % 1000
    n_w, n_m = len(wkey), len(mkey)
    rhs = np.concatenate(
        [
            np.ones(n_ov),
            (inst.week_limit[wv] - inst.week_count[wv, ww]).astype(float),
            (inst.month_limit[mv] - inst.month_minutes[mv, mm]).astype(float),
            (inst.troupe_limit[tt] - inst.troupe_week[tt, tw]).astype(float),
        ]
    )
    x_row = np.concatenate([ov_row, n_ov + wrow, n_ov + n_w + mrow])
    x_of = np.concatenate([ov_x, np.arange(nx), np.arange(nx)])
    x_coef = np.concatenate([np.ones(len(ov_x)), np.ones(nx), m.x_min.astype(float)])
    z_row = n_ov + n_w + n_m + trow
    n_rows = len(rhs)
    scale = np.ones(n_rows)
    scale[n_ov + n_w : n_ov + n_w + n_m] = 1.0 / 60.0  # minutes priced per hour

    # groups: the roles of a slot (slot, skill), with their counts
    gkey = m.x_slot * 64 + m.x_skill
    gid_keys, group = np.unique(gkey, return_inverse=True)
    g_slot = gid_keys // 64
    g_count = np.array(
        [m.counts[(int(m.slot_order[s]), m.skills[int(k)])] for s, k in zip(g_slot, gid_keys % 64, strict=True)],
        dtype=np.int64,
    )
    n_slots, n_orders = len(m.slot_y), len(orders)
    base = m.cost[m.slot_y]
    # the x a troupe option could boost: (option j, x) where x is in j's slot and its person a member
    by_slot = np.argsort(m.x_slot, kind="stable")
    s_first = np.searchsorted(m.x_slot[by_slot], np.arange(n_slots))
    s_last = np.searchsorted(m.x_slot[by_slot], np.arange(n_slots), side="right")
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
        # sorted by (option, group) so that each pair's incidences are one run
        o = np.lexsort((group[inc_x], inc_j))
        inc_j, inc_x = inc_j[o], inc_x[o]
    pair_key = inc_j * (len(g_count) + 1) + group[inc_x]

    lam = np.zeros(n_rows)
    warm_bound = None
    if warm and n_z:
        lam[n_ov + n_w + n_m :], warm_bound = _troupe_prices(
            m, orders, score, group, g_count, g_slot, base, inc_j, inc_x, pair_key, wt, trow, rhs[n_ov + n_w + n_m :]
        )
    direction = np.zeros(n_rows)
    best, best_at, history, best_lam = np.inf, None, [], lam
    stall = 0
    built = time.perf_counter() - started
    for it in range(iterations):
        rc = score - np.bincount(x_of, weights=lam[x_row] * x_coef, minlength=nx)
        order_ix, slack = _by_key_best_first(group, rc)
        g_sorted = group[order_ix]
        rank, _ = _segments(g_sorted)
        take = rank < g_count[g_sorted]
        gval = np.bincount(g_sorted[take], weights=rc[order_ix][take], minlength=len(g_count))
        # the count-th best of each group (its threshold)
        thr = np.full(len(g_count), -np.inf)
        last = take & (rank == g_count[g_sorted] - 1)
        thr[g_sorted[last]] = rc[order_ix][last]
        sval = base + np.bincount(g_slot, weights=gval, minlength=n_slots)
        full = np.bincount(g_slot, weights=np.isfinite(thr), minlength=n_slots) == np.bincount(
            g_slot, minlength=n_slots
        )
        # a troupe's gain: per (option, group) the top count of max(0, rc + bonus - threshold)
        gain_j = np.zeros(n_z)
        if n_z:
            gi = group[inc_x]
            val = np.maximum(0.0, rc[inc_x] + wt - thr[gi])
            o, more = _by_key_best_first(pair_key, val)
            slack += more
            r_, _ = _segments(pair_key[o])
            keep = r_ < g_count[gi[o]]
            gain_j = np.bincount(inc_j[o][keep], weights=val[o][keep], minlength=n_z) - lam[n_ov + n_w + n_m + trow]
        tgain = np.zeros(n_slots)
        if n_z:
            np.maximum.at(tgain, m.z_slot, gain_j)
        sval = np.where(full, sval + tgain, -np.inf)
        oval = np.zeros(n_orders)
        np.maximum.at(oval, m.slot_order, sval)
        value = float(oval.sum() + lam @ rhs) + slack
        if value < best - 1e-6:
            best, best_at, stall, best_lam = value, it, 0, lam
        else:
            stall += 1
            if stall >= patience or value > best + abs(best):  # a step far too long: back to the best prices
                theta, stall = theta / 2, 0
                if value > best + abs(best):
                    lam, direction = best_lam, np.zeros(n_rows)
                    continue
        history.append(value)
        # the plan of the relaxation at these prices: its subgradient
        winner = np.full(n_orders, -1)
        pos = np.flatnonzero((sval > 0) & (sval >= oval[m.slot_order] - 1e-9))
        winner[m.slot_order[pos]] = pos
        chosen = np.zeros(n_slots, dtype=bool)
        chosen[winner[winner >= 0]] = True
        xsel = np.zeros(nx)
        picked = order_ix[take]
        xsel[picked[chosen[m.x_slot[picked]]]] = 1.0
        used = np.bincount(x_row, weights=x_coef * xsel[x_of], minlength=n_rows)
        if n_z:
            best_j = np.full(n_slots, -1)
            jpos = np.flatnonzero((gain_j > 0) & (gain_j >= tgain[m.z_slot] - 1e-9))
            best_j[m.z_slot[jpos]] = jpos
            zs = best_j[chosen & (best_j >= 0)]
            used += np.bincount(z_row[zs], minlength=n_rows)
        grad = (rhs - used) * scale
        grad[(lam <= 0) & (grad > 0)] = 0.0  # a price at zero cannot go lower
        direction = grad + deflect * direction
        direction[(lam <= 0) & (direction > 0)] = 0.0
        norm = float(direction @ direction)
        if norm == 0 or theta < 1e-5 or time.perf_counter() - started > time_limit:
            break
        step = theta * max(value - target, 1e-3) / norm
        lam = np.maximum(0.0, lam - step * direction * scale)
    return {
        "bound": best,
        "warm_bound": warm_bound,
        "status": f"subgradient, {len(history)} iterations (best at {best_at})",
        "theta": theta,
        "history": [round(history[k]) for k in range(0, len(history), max(1, len(history) // 12))],
        "columns": int(nx + n_slots + n_z + len(m.b_col)),
        "rows": int(n_rows),
        "build_seconds": round(built, 2),
        "seconds": round(time.perf_counter() - started, 2),
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
