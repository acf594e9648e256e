"""Upper bounds on the best objective of a dispatch instance: the LP relaxation (HiGHS), and a
Lagrangian relaxation that scales to a city's month.

Variables, on the instance as it stands before planning:
  y[o, s]        order o is served in slot s                       (0 ≤ y ≤ 1)
  x[o, s, v, k]  volunteer v fills skill k of order o in slot s     (0 ≤ x ≤ 1), only where v
                 passes every hard rule on its own (skill, availability, travel, limits, held time)
Constraints:
  Σ_s y[o, s] ≤ 1                                   one slot per order
  Σ_v x[o, s, v, k] = count(k) · y[o, s]             every role filled
  Σ x over v's intervals that contain a point ≤ 1     no overlap, rest gap included (one row per
                                                      start point of v's padded intervals)
  Σ x over v's slots in week w ≤ deliveries left     weekly limit
  Σ minutes · x over v's slots in month m ≤ left     monthly hours
Objective: the planner's, except the troupe bonus: a slot earns at most the bonus of the troupe
with the most eligible members per role (troupe limits relaxed). Every relaxation only raises
the bound, so planner objective ≤ LP optimum, and (LP − planner) / LP is an honest gap.
"""

from __future__ import annotations

import time

import highspy
import numpy as np

from services.dispatch import planner as P


def troupe_bonus(inst: P.Instance, troupe_rows: list[int], per_skill: list[tuple[int, np.ndarray]]) -> float:
    """The most troupe bonus a slot can earn: one troupe is sent, and each role gets at most as
    many of its members as there are eligible members with that skill."""
    if not troupe_rows:
        return 0.0
    members = inst.members[troupe_rows]
    total = np.zeros(len(troupe_rows))
    for count, v in per_skill:
        total += np.minimum(count, members[:, v].sum(axis=1))
    return float(inst.rules.weights.troupe * total.max())


def lp_bound(
    inst: P.Instance,
    orders: list[P.Order],
    time_limit: float = 600.0,
    integer: bool = False,
    tighten: bool = True,
    solver_name: str = "choose",
) -> dict:
    started = time.perf_counter()
    w = inst.rules.weights
    h = inst.rules.half_gap
    cost: list[float] = []
    rows_i: list[np.ndarray] = []
    cols_i: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    row_lo: list[float] = []
    row_hi: list[float] = []
    # per volunteer: (column, padded start, padded end, week, month, minutes) of every x
    xs_vol: list[np.ndarray] = []
    xs_col: list[np.ndarray] = []
    xs_a: list[np.ndarray] = []
    xs_b: list[np.ndarray] = []
    xs_week: list[np.ndarray] = []
    xs_month: list[np.ndarray] = []
    xs_min: list[np.ndarray] = []

    y_cols: list[int] = []

    def new_row(lo: float, hi: float) -> int:
        row_lo.append(lo)
        row_hi.append(hi)
        return len(row_lo) - 1

    def entries(row: int, cols, values) -> None:
        cols = np.asarray(cols, dtype=np.int64)
        rows_i.append(np.full(len(cols), row, dtype=np.int64))
        cols_i.append(cols)
        vals.append(np.broadcast_to(np.asarray(values, dtype=float), cols.shape).copy())

    for order in orders:
        dist = inst.distance(order.district)
        likes = inst.likes(order.kind, order.district)
        troupe_rows = [inst.troupe_index[t] for t in order.troupes if t in inst.troupe_index]
        one_slot = new_row(-np.inf, 1.0)
        for start, end in inst.slots(order):
            m = inst.month_of(start)
            week = inst.week_of(start)
            per_skill = []
            for skill, count in order.needs:
                c = inst.by_skill.get(skill, np.zeros(0, dtype=np.int64))
                ok = P._eligible(inst, c, order, start, end, dist[c] <= inst.max_km[c])
                per_skill.append((skill, count, c[ok]))
            if any(len(v) < count for _, count, v in per_skill):
                continue  # this slot can never be fully staffed
            per_skill_n = [(count, v) for _, count, v in per_skill]
            y = len(cost)
            y_cols.append(y)
            cost.append(w.serve + w.underserved * order.underserved + troupe_bonus(inst, troupe_rows, per_skill_n))
            entries(one_slot, [y], 1.0)
            for _skill, count, v in per_skill:
                travel = np.clip(1.0 - dist[v] / inst.rules.max_travel_km, 0.0, 1.0)
                limit = np.maximum(inst.month_limit[v], 1)
                fair = 1.0 - np.minimum(inst.month_minutes[v, m] / limit, 1.0)
                score = w.travel * travel + w.fairness * fair + w.preference * likes[v]
                first = len(cost)
                cost.extend(score.tolist())
                cols = np.arange(first, first + len(v))
                fill = new_row(0.0, 0.0)
                entries(fill, cols, 1.0)
                entries(fill, [y], -float(count))
                if tighten:  # x ≤ y: a person fills a role only in a slot that is used
                    first_row = len(row_lo)
                    row_lo.extend([-np.inf] * len(cols))
                    row_hi.extend([0.0] * len(cols))
                    rows = np.arange(first_row, first_row + len(cols))
                    rows_i.extend([rows, rows])
                    cols_i.extend([cols, np.full(len(cols), y)])
                    vals.extend([np.ones(len(cols)), -np.ones(len(cols))])
                xs_vol.append(v)
                xs_col.append(cols)
                xs_a.append(np.full(len(v), max(start - h, 0)))
                xs_b.append(np.full(len(v), min(end + h, inst.T)))
                xs_week.append(np.full(len(v), week))
                xs_month.append(np.full(len(v), m))
                xs_min.append(np.full(len(v), order.minutes))

    vol = np.concatenate(xs_vol)
    col = np.concatenate(xs_col)
    a = np.concatenate(xs_a)
    b = np.concatenate(xs_b)
    wk = np.concatenate(xs_week)
    mo = np.concatenate(xs_month)
    mins = np.concatenate(xs_min)
    by_vol = np.lexsort((a, vol))
    vol, col, a, b, wk, mo, mins = (arr[by_vol] for arr in (vol, col, a, b, wk, mo, mins))
    bounds = np.flatnonzero(np.diff(vol)) + 1
    for part in np.split(np.arange(len(vol)), bounds):
        if not len(part):
            continue
        i = int(vol[part[0]])
        pa, pb, pc = a[part], b[part], col[part]
        # no overlap: at each padded start point, the intervals that contain it
        for p in np.unique(pa):
            inside = pc[(pa <= p) & (p < pb)]
            if len(inside) > 1:
                entries(new_row(-np.inf, 1.0), inside, 1.0)
        for week in np.unique(wk[part]):
            sel = pc[wk[part] == week]
            left = int(inst.week_limit[i] - inst.week_count[i, week])
            if len(sel) > left:
                entries(new_row(-np.inf, float(left)), sel, 1.0)
        for month in np.unique(mo[part]):
            sel = mo[part] == month
            left = float(inst.month_limit[i] - inst.month_minutes[i, month])
            if mins[part][sel].sum() > left:
                entries(new_row(-np.inf, left), pc[sel], mins[part][sel])

    n_col, n_row = len(cost), len(row_lo)
    r = np.concatenate(rows_i)
    c = np.concatenate(cols_i)
    v = np.concatenate(vals)
    order_c = np.lexsort((r, c))
    r, c, v = r[order_c], c[order_c], v[order_c]
    starts = np.searchsorted(c, np.arange(n_col + 1))
    built = time.perf_counter() - started

    lp = highspy.HighsLp()
    lp.num_col_ = n_col
    lp.num_row_ = n_row
    lp.col_cost_ = np.asarray(cost, dtype=float)
    lp.col_lower_ = np.zeros(n_col)
    lp.col_upper_ = np.ones(n_col)
    lp.row_lower_ = np.asarray(row_lo, dtype=float)
    lp.row_upper_ = np.asarray(row_hi, dtype=float)
    lp.sense_ = highspy.ObjSense.kMaximize
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = starts.astype(np.int32)
    lp.a_matrix_.index_ = r.astype(np.int32)
    lp.a_matrix_.value_ = v
    lp.a_matrix_.num_col_ = n_col
    lp.a_matrix_.num_row_ = n_row
    if integer:
        lp.integrality_ = [highspy.HighsVarType.kInteger] * n_col
    solver = highspy.Highs()
    solver.setOptionValue("output_flag", False)
    solver.setOptionValue("time_limit", float(time_limit))
    solver.setOptionValue("threads", 2)
    solver.setOptionValue("solver", solver_name)
    solver.passModel(lp)
    solver.run()
    status = solver.modelStatusToString(solver.getModelStatus())
    info = solver.getInfo()
    values = np.asarray(solver.getSolution().col_value)
    served = float(values[np.asarray(y_cols, dtype=np.int64)].sum()) if y_cols else 0.0
    return {
        "bound": float(info.mip_dual_bound if integer else info.objective_function_value),
        "best": float(info.objective_function_value),
        "status": status,
        "served": round(served, 1),
        "columns": n_col,
        "rows": n_row,
        "nonzeros": int(len(v)),
        "build_seconds": round(built, 2),
        "seconds": round(time.perf_counter() - started, 2),
    }


def week_of(inst: P.Instance, order: P.Order) -> int:
    slots = inst.slots(order)
    return inst.week_of(slots[0][0]) if slots else -1


def decomposed_bound(inst: P.Instance, orders: list[P.Order], time_limit: float = 1800.0, **kw) -> dict:
    """The LP bound, one week of orders at a time (orders by the week of their first slot).

    Splitting the orders into groups and solving each group's LP on its own drops only the
    constraints that tie groups together (a volunteer's monthly hours, and an order whose slots
    reach into the next week), so the sum of the groups' optima is still an upper bound on the
    whole problem; each group keeps every volunteer's full weekly limit and held time.
    """
    started = time.perf_counter()
    groups: dict[int, list[P.Order]] = {}
    for order in orders:
        groups.setdefault(week_of(inst, order), []).append(order)
    parts = []
    for week, group in sorted(groups.items()):
        if week < 0:
            continue
        left = max(60.0, time_limit - (time.perf_counter() - started))
        parts.append({"week": week, "orders": len(group), **lp_bound(inst, group, time_limit=left, **kw)})
    return {
        "bound": sum(p["bound"] for p in parts),
        "status": "Optimal"
        if all(p["status"] == "Optimal" for p in parts)
        else "not optimal: " + ", ".join(sorted({p["status"] for p in parts})),
        "served": round(sum(p["served"] for p in parts), 1),
        "columns": sum(p["columns"] for p in parts),
        "rows": sum(p["rows"] for p in parts),
        "nonzeros": sum(p["nonzeros"] for p in parts),
        "seconds": round(time.perf_counter() - started, 2),
        "parts": parts,
    }


def _candidates(inst: P.Instance, orders: list[P.Order]) -> dict:
    """Every slot of every order that could be fully staffed on its own, and every (slot, role,
    volunteer) that passes the hard rules on its own, with its objective score."""
    w = inst.rules.weights
    h = inst.rules.half_gap
    slot_order, slot_base = [], []
    group_slot, group_count = [], []
    xs = {k: [] for k in ("group", "vol", "score", "a", "b", "week", "month", "minutes")}
    for n, order in enumerate(orders):
        dist = inst.distance(order.district)
        likes = inst.likes(order.kind, order.district)
        troupe_rows = [inst.troupe_index[t] for t in order.troupes if t in inst.troupe_index]
        for start, end in inst.slots(order):
            m, week = inst.month_of(start), inst.week_of(start)
            per_skill = []
            for skill, count in order.needs:
                c = inst.by_skill.get(skill, np.zeros(0, dtype=np.int64))
                ok = P._eligible(inst, c, order, start, end, dist[c] <= inst.max_km[c])
                per_skill.append((count, c[ok]))
            if any(len(v) < count for count, v in per_skill):
                continue
            s = len(slot_order)
            slot_order.append(n)
            slot_base.append(w.serve + w.underserved * order.underserved + troupe_bonus(inst, troupe_rows, per_skill))
            for count, v in per_skill:
                g = len(group_slot)
                group_slot.append(s)
                group_count.append(count)
                travel = np.clip(1.0 - dist[v] / inst.rules.max_travel_km, 0.0, 1.0)
                fair = 1.0 - np.minimum(inst.month_minutes[v, m] / np.maximum(inst.month_limit[v], 1), 1.0)
                score = w.travel * travel + w.fairness * fair + w.preference * likes[v]
                xs["group"].append(np.full(len(v), g))
                xs["vol"].append(v)
                xs["score"].append(score)
                xs["a"].append(np.full(len(v), max(start - h, 0)))
                xs["b"].append(np.full(len(v), min(end + h, inst.T)))
                xs["week"].append(np.full(len(v), week))
                xs["month"].append(np.full(len(v), m))
                xs["minutes"].append(np.full(len(v), order.minutes))
    out = {k: np.concatenate(v) if v else np.zeros(0) for k, v in xs.items()}
    out.update(
        slot_order=np.array(slot_order, dtype=np.int64),
        slot_base=np.array(slot_base, dtype=float),
        group_slot=np.array(group_slot, dtype=np.int64),
        group_count=np.array(group_count, dtype=np.int64),
    )
    return out


def lagrangian_bound(
    inst: P.Instance,
    orders: list[P.Order],
    target: float,
    iterations: int = 300,
    time_limit: float = 300.0,
    theta: float = 2.0,
    patience: int = 20,
) -> dict:
    """An upper bound by Lagrangian relaxation: the constraints that tie orders together (no
    overlap with the rest gap, weekly deliveries, monthly minutes) are priced by multipliers
    λ ≥ 0; each order then picks its best slot and people alone at those prices. For every λ,
    Σ orders' best + λ·(what is left of each limit) is an upper bound on the objective; the
    subgradient method lowers it towards the LP bound, and the lowest value seen is reported.
    ``target`` (the planner's objective) sets the step sizes only."""
    started = time.perf_counter()
    x = _candidates(inst, orders)
    nx = len(x["vol"])
    vol, a, b = x["vol"].astype(np.int64), x["a"].astype(np.int64), x["b"].astype(np.int64)
    big = inst.T + 1
    # no overlap: one row per volunteer and padded start point; x is in the rows its interval holds
    keys = np.unique(vol * big + a)
    lo = np.searchsorted(keys, vol * big + a)
    hi = np.searchsorted(keys, vol * big + b)
    length = hi - lo
    ov_x = np.repeat(np.arange(nx), length)
    ov_row = np.repeat(lo, length) + (np.arange(length.sum()) - np.repeat(np.cumsum(length) - length, length))
    n_ov = len(keys)
    # weekly deliveries and monthly minutes left, per volunteer
    wkey, wrow = np.unique(vol * 1000 + x["week"].astype(np.int64), return_inverse=True)
    mkey, mrow = np.unique(vol * 1000 + x["month"].astype(np.int64), return_inverse=True)
    wv, ww = wkey // 1000, wkey % 1000
    mv, mm = mkey // 1000, mkey % 1000
    rhs = np.concatenate(
        [
            np.ones(n_ov),
            (inst.week_limit[wv] - inst.week_count[wv, ww]).astype(float),
            (inst.month_limit[mv] - inst.month_minutes[mv, mm]).astype(float),
        ]
    )
    row = np.concatenate([ov_row, n_ov + wrow, n_ov + len(wkey) + mrow])
    col = np.concatenate([ov_x, np.arange(nx), np.arange(nx)])
    coef = np.concatenate([np.ones(len(ov_x)), np.ones(nx), x["minutes"].astype(float)])
    n_rows = len(rhs)
    scale = np.where(np.arange(n_rows) >= n_ov + len(wkey), 1.0 / 60.0, 1.0)  # minutes priced per hour

    group = x["group"].astype(np.int64)
    gslot = x["group_slot"]
    gcount = x["group_count"]
    slot_order = x["slot_order"]
    n_orders = len(orders)
    score = x["score"]
    lam = np.zeros(n_rows)
    best, best_lam_value, history = np.inf, None, []
    stall = 0
    built = time.perf_counter() - started
    for it in range(iterations):
        rc = score - np.bincount(col, weights=lam[row] * coef, minlength=nx)
        order_ix = np.lexsort((-rc, group))
        g_sorted = group[order_ix]
        first = np.searchsorted(g_sorted, np.arange(len(gcount)))
        rank = np.arange(nx) - first[g_sorted]
        take = rank < gcount[g_sorted]
        gval = np.bincount(g_sorted[take], weights=rc[order_ix][take], minlength=len(gcount))
        sval = x["slot_base"] + np.bincount(gslot, weights=gval, minlength=len(slot_order))
        # each order: its best slot, or nothing
        oval = np.zeros(n_orders)
        np.maximum.at(oval, slot_order, sval)
        value = float(oval.sum() + lam @ rhs)
        if value < best - 1e-6:
            best, best_lam_value, stall = value, it, 0
        else:
            stall += 1
            if stall >= patience:
                theta, stall = theta / 2, 0
        history.append(round(value, 1))
        # the people chosen at these prices
        chosen_slot = np.full(n_orders, -1)
        positive = sval > 0
        idx = np.flatnonzero(positive)
        winners = idx[np.isclose(sval[idx], oval[slot_order[idx]])]
        chosen_slot[slot_order[winners]] = winners
        in_chosen = np.zeros(len(slot_order), dtype=bool)
        in_chosen[chosen_slot[chosen_slot >= 0]] = True
        xsel = np.zeros(nx)
        picked = order_ix[take]
        picked = picked[in_chosen[gslot[group[picked]]]]
        xsel[picked] = 1.0
        used = np.bincount(row, weights=coef * xsel[col], minlength=n_rows)
        grad = (rhs - used) * scale
        norm = float(grad @ grad)
        if norm == 0 or time.perf_counter() - started > time_limit:
            break
        step = theta * max(value - target, 1e-3) / norm
        lam = np.maximum(0.0, lam - step * grad * scale)
    return {
        "bound": best,
        "status": f"subgradient, {len(history)} iterations (best at {best_lam_value})",
        "columns": int(nx),
        "rows": int(n_rows),
        "nonzeros": int(len(row)),
        "build_seconds": round(built, 2),
        "seconds": round(time.perf_counter() - started, 2),
    }
