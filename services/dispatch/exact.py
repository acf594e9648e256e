"""The dispatch problem as a mixed-integer program, troupes modelled exactly: the reference
bound of the benchmark (its LP relaxation, or the MIP solved to a proven bound) and the exact
repair of the planner's large neighbourhood search (a few dozen orders at a time, everything
else held). No I/O; HiGHS solves it.

On the instance as it stands (time and loads held by everything outside the model count as
taken), for the orders given:
  y[o, s]       order o is served in slot s
  x[o, s, k, v] volunteer v fills skill k of order o in slot s, only where v passes every hard
                rule on its own (skill, availability, travel, the limits, the time already held)
  z[o, s, t]    troupe t is sent to order o in slot s (t plays the program, has its week left)
  b[o, s, v]    v is in the crew of o in slot s and a member of the troupe sent (earns the bonus)
Constraints:
  Σ_s y[o, s] ≤ 1                       one slot per order
  Σ_v x[o, s, k, v] = count(k) y[o, s]  every role filled
  x[o, s, k, v] ≤ y[o, s]               (for roles of two or more: tightens the relaxation)
  Σ_t z[o, s, t] ≤ y[o, s]              at most one troupe
  b ≤ Σ_k x[o, s, k, v],  b ≤ Σ_{t ∋ v} z[o, s, t]
  Σ x over v's padded intervals that contain a point ≤ 1   no overlap, rest gap included (one
                                        person in one role of a slot follows from it)
  Σ_s x over v's slots in week w ≤ deliveries left;  Σ minutes · x in month m ≤ minutes left
  Σ z over t's slots in week w ≤ the troupe's deliveries left
Objective: the planner's, exactly (planner.py): serve + underserved, and per person travel,
fairness (on the month's minutes before a batch), preference, and the troupe bonus through b.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import highspy
import numpy as np

from services.dispatch import planner as P

_threads: int | None = None  # the thread count HiGHS's pool was made with in this process


@dataclass
class Solved:
    status: str
    objective: float  # of the best plan found (-inf: none)
    bound: float  # proven upper bound (the LP's optimum when relaxed)
    seconds: float
    served: float  # orders served in the best plan (fractional when relaxed)
    values: np.ndarray | None


class Model:
    """The troupe-exact program of ``orders`` on ``inst`` as it stands."""

    def __init__(self, inst: P.Instance, orders: list[P.Order], *, tighten: bool = True, constraints: bool = True):
        """``constraints=False``: the columns only (what the Lagrangian bound prices)."""
        started = time.perf_counter()
        self.inst, self.orders = inst, orders
        w = inst.rules.weights
        h = inst.rules.half_gap
        cost: list[np.ndarray] = []
        self.n_col = 0
        rows: list[np.ndarray] = []
        cols: list[np.ndarray] = []
        vals: list[np.ndarray] = []
        lo: list[np.ndarray] = []
        hi: list[np.ndarray] = []
        self.n_row = 0

        def add_cols(c: np.ndarray) -> np.ndarray:
            cost.append(np.asarray(c, dtype=float))
            first = self.n_col
            self.n_col += len(c)
            return np.arange(first, self.n_col)

        def add_rows(n: int, low: float, high: float) -> np.ndarray:
            lo.append(np.full(n, low))
            hi.append(np.full(n, high))
            first = self.n_row
            self.n_row += n
            return np.arange(first, self.n_row)

        def put(r: np.ndarray, c: np.ndarray, v: float) -> None:
            if not constraints:
                return
            if r.shape != c.shape:
                r, c = np.broadcast_arrays(r, c)
            rows.append(r)
            cols.append(c)
            vals.append(np.full(r.shape, v))

        # what is read back: per slot (order, start, end, y column); per x (slot, skill, volunteer)
        slot_order, slot_start, slot_end, slot_y = [], [], [], []
        x_slot, x_skill, x_vol, x_cols, x_a, x_b, x_week, x_month, x_min = [], [], [], [], [], [], [], [], []
        z_slot, z_troupe, z_col = [], [], []
        b_slot, b_vol, b_col = [], [], []
        self.skills: list[str] = []
        skill_no: dict[str, int] = {}
        from services.dispatch.search import Scorer

        scorer = Scorer(inst)
        n_slots = 0
        for n, order in enumerate(orders):
            one = add_rows(1, -np.inf, 1.0)
            slots = inst.slots(order)
            if not slots:
                continue
            u, ok, static, starts, ends, weeks, months = scorer._eligible(order, slots)
            if not len(u):
                continue
            has = np.array([scorer.masks[sk][u] for sk, _ in order.needs])  # skills × candidates
            cnt = np.array([c for _, c in order.needs])
            per = (has[:, :, None] & ok[None]).sum(axis=1)  # skills × slots
            F = np.flatnonzero((per >= cnt[:, None]).all(axis=0))  # slots that could be staffed
            if not len(F):
                continue
            nF = len(F)
            sid = n_slots + np.arange(nF)
            n_slots += nF
            fs, fe, fw, fm = starts[F], ends[F], weeks[F], months[F]
            ycols = add_cols(np.full(nF, w.serve + w.underserved * order.underserved))
            put(np.full(nF, one[0]), ycols, 1.0)
            slot_order.append(np.full(nF, n))
            slot_start.append(fs)
            slot_end.append(fe)
            slot_y.append(ycols)
            okF = ok[:, F]
            xs = []  # per skill: (slot position, candidate position, columns)
            for j, (skill, count) in enumerate(order.needs):
                k = skill_no.setdefault(skill, len(skill_no))
                fi, vi = np.nonzero((okF & has[j][:, None]).T)  # by slot, then candidate
                v = u[vi]
                xc = add_cols(static[vi] + scorer.fair[v, fm[fi]])
                fill = add_rows(nF, 0.0, 0.0)
                put(fill[fi], xc, 1.0)
                put(fill, ycols, -float(count))
                if tighten and count > 1:
                    r = add_rows(len(xc), -np.inf, 0.0)
                    put(r, xc, 1.0)
                    put(r, ycols[fi], -1.0)
                x_slot.append(sid[fi])
                x_skill.append(np.full(len(v), k))
                x_vol.append(v)
                x_cols.append(xc)
                x_a.append(np.maximum(fs[fi] - h, 0))
                x_b.append(np.minimum(fe[fi] + h, inst.T))
                x_week.append(fw[fi])
                x_month.append(fm[fi])
                x_min.append(np.full(len(v), order.minutes))
                xs.append((fi, vi, xc))
            pool = np.array([inst.troupe_index[t] for t in order.troupes if t in inst.troupe_index], dtype=np.int64)
            if not len(pool):
                continue
            # troupes: those with the week left and a member among the slot's candidates
            mt = inst.members[np.ix_(pool, u)]  # troupes × candidates
            elig = okF & has.any(axis=0)[:, None]  # candidates × slots
            room = inst.troupe_week[pool[:, None], fw[None]] < inst.troupe_limit[pool][:, None]
            Z = room & ((mt.astype(np.int32) @ elig.astype(np.int32)) > 0)  # troupes × slots
            pi, zf = np.nonzero(Z)
            if not len(pi):
                continue
            zc = add_cols(np.zeros(len(pi)))
            with_z = np.unique(zf)
            zr = add_rows(len(with_z), -np.inf, 0.0)
            put(zr[np.searchsorted(with_z, zf)], zc, 1.0)
            put(zr, ycols[with_z], -1.0)
            z_slot.append(sid[zf])
            z_troupe.append(pool[pi])
            z_col.append(zc)
            # b: a candidate of the slot who is a member of a troupe that may be sent there
            bm = ((Z.T.astype(np.int32) @ mt.astype(np.int32)) > 0) & elig.T  # slots × candidates
            bf, bv = np.nonzero(bm)
            bc = add_cols(np.full(len(bf), w.troupe))
            bkey = bf * len(u) + bv
            b_slot.append(sid[bf])
            b_vol.append(u[bv])
            b_col.append(bc)
            r1 = add_rows(len(bc), -np.inf, 0.0)  # b ≤ Σ_k x
            put(r1, bc, 1.0)
            for fi, vi, xc in xs:
                xkey = fi * len(u) + vi
                at = np.minimum(np.searchsorted(bkey, xkey), len(bkey) - 1)
                hit = bkey[at] == xkey
                put(r1[at[hit]], xc[hit], -1.0)
            r2 = add_rows(len(bc), -np.inf, 0.0)  # b ≤ Σ_{t ∋ v} z[t]
            put(r2, bc, 1.0)
            q, qv = np.nonzero(mt[pi] & bm[zf])
            put(r2[np.searchsorted(bkey, zf[q] * len(u) + qv)], zc[q], -1.0)

        cat = lambda parts: np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)  # noqa: E731
        self.slot_order, self.slot_start, self.slot_end, self.slot_y = (
            cat(p).astype(np.int64) for p in (slot_order, slot_start, slot_end, slot_y)
        )
        self.skills = list(skill_no)
        self.x_slot, self.x_skill, self.x_vol, self.x_col = (cat(p) for p in (x_slot, x_skill, x_vol, x_cols))
        a, b, wk, mo, mins = (cat(p) for p in (x_a, x_b, x_week, x_month, x_min))
        self.x_a, self.x_b, self.x_week, self.x_month, self.x_min = a, b, wk, mo, mins
        self.counts = {(n, skill): count for n, o in enumerate(orders) for skill, count in o.needs}
        self.z_slot, self.z_troupe, self.z_col = cat(z_slot), cat(z_troupe), cat(z_col)
        self.b_slot, self.b_vol, self.b_col = cat(b_slot), cat(b_vol), cat(b_col)

        vol = self.x_vol
        if len(vol) and constraints:
            # no overlap: one row per volunteer and padded start point, holding the x whose padded
            # interval contains that point (rows with one entry say nothing and are left out)
            big = inst.T + 1
            keys, counts = np.unique(vol * big + a, return_counts=True)
            first = np.searchsorted(keys, vol * big + a)
            last = np.searchsorted(keys, vol * big + b)
            length = last - first
            xi = np.repeat(np.arange(len(vol)), length)
            ri = np.repeat(first, length) + (np.arange(length.sum()) - np.repeat(np.cumsum(length) - length, length))
            size = np.bincount(ri, minlength=len(keys))
            keep = size > 1
            renum = np.cumsum(keep) - 1
            r = add_rows(int(keep.sum()), -np.inf, 1.0)
            sel = keep[ri]
            put(r[renum[ri[sel]]], self.x_col[xi[sel]], 1.0)
            # the week's deliveries and the month's minutes left, where the slots could exceed them
            for key_of, used, left_of in (
                (wk, np.ones(len(vol)), lambda v, p: inst.week_limit[v] - inst.week_count[v, p]),
                (mo, mins.astype(float), lambda v, p: inst.month_limit[v] - inst.month_minutes[v, p]),
            ):
                keys, inv = np.unique(vol * 1000 + key_of, return_inverse=True)
                kv, kp = keys // 1000, keys % 1000
                left = left_of(kv, kp).astype(float)
                total = np.bincount(inv, weights=used, minlength=len(keys))
                binding = total > left + 1e-9
                renum = np.cumsum(binding) - 1
                r = add_rows(int(binding.sum()), -np.inf, 0.0)
                if len(r):
                    hi[-1][:] = left[binding]
                    sel = binding[inv]
                    put(r[renum[inv[sel]]], self.x_col[sel], used[sel])
        if len(self.z_col) and constraints:
            zw = np.array([inst.week_of(int(st)) for st in self.slot_start[self.z_slot]], dtype=np.int64)
            keys, inv = np.unique(self.z_troupe * 1000 + zw, return_inverse=True)
            kt, kw = keys // 1000, keys % 1000
            left = (inst.troupe_limit[kt] - inst.troupe_week[kt, kw]).astype(float)
            total = np.bincount(inv, minlength=len(keys))
            binding = total > left + 1e-9
            renum = np.cumsum(binding) - 1
            r = add_rows(int(binding.sum()), -np.inf, 0.0)
            if len(r):
                hi[-1][:] = left[binding]
                sel = binding[inv]
                put(r[renum[inv[sel]]], self.z_col[sel], 1.0)

        self.cost = np.concatenate(cost) if cost else np.zeros(0)
        self.row_lo = np.concatenate(lo) if lo else np.zeros(0)
        self.row_hi = np.concatenate(hi) if hi else np.zeros(0)
        r, c, v = cat(rows), cat(cols), np.concatenate(vals) if vals else np.zeros(0)
        by_col = np.lexsort((r, c))
        self._r, self._c, self._v = r[by_col], c[by_col], v[by_col]
        self.nonzeros = len(self._v)
        self.build_seconds = time.perf_counter() - started

    # -------------------------------------------------------------- solving

    def solve(
        self,
        *,
        integer: bool = True,
        time_limit: float = 60.0,
        start: dict[str, P.Choice] | None = None,
        threads: int = 1,
        gap: float = 1e-4,
        solver: str = "choose",
        presolve: bool = True,
        until: tuple | None = None,
    ) -> Solved:
        """``until``: (clock, deadline): HiGHS is stopped once ``clock()`` passes ``deadline``
        as well (its own time limit is the wall clock's; a batch may be measured by the
        process's processor time, which a machine shared with other work runs slower than)."""
        started = time.perf_counter()
        if self.n_col == 0:
            self.values = np.zeros(0)
            return Solved("Optimal", 0.0, 0.0, 0.0, 0.0, self.values)
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = self.n_col, self.n_row
        lp.col_cost_ = self.cost
        lp.col_lower_ = np.zeros(self.n_col)
        lp.col_upper_ = np.ones(self.n_col)
        lp.row_lower_, lp.row_upper_ = self.row_lo, self.row_hi
        lp.sense_ = highspy.ObjSense.kMaximize
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = np.searchsorted(self._c, np.arange(self.n_col + 1)).astype(np.int32)
        lp.a_matrix_.index_ = self._r.astype(np.int32)
        lp.a_matrix_.value_ = self._v
        lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = self.n_col, self.n_row
        if integer:
            lp.integrality_ = [highspy.HighsVarType.kInteger] * self.n_col
        global _threads
        if _threads is not None and _threads != threads:
            # HiGHS keeps one pool of threads per process: another count needs it made anew
            highspy.Highs.resetGlobalScheduler(True)
        _threads = threads
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("time_limit", float(max(time_limit, 0.01)))
        h.setOptionValue("threads", int(threads))
        h.setOptionValue("mip_rel_gap", float(gap))
        h.setOptionValue("solver", solver)
        if not presolve:  # a small repair solves several times faster without it
            h.setOptionValue("presolve", "off")
        h.passModel(lp)
        if until is not None:
            clock, deadline = until

            def stop(e) -> None:
                if clock() > deadline:
                    e.interrupt()

            h.cbMipInterrupt.subscribe(stop)
            h.cbSimplexInterrupt.subscribe(stop)
        if integer and start:
            warm = self.start_values(start)
            h.setSolution(self.n_col, np.arange(self.n_col, dtype=np.int32), warm)
        h.run()
        status = h.modelStatusToString(h.getModelStatus())
        info = h.getInfo()
        sol = h.getSolution()
        found = bool(sol.value_valid) if integer else True
        values = np.asarray(sol.col_value) if found and len(sol.col_value) == self.n_col else None
        objective = float(info.objective_function_value) if values is not None else -np.inf
        bound = float(info.mip_dual_bound) if integer else objective
        served = float(values[self.slot_y].sum()) if values is not None and len(self.slot_y) else 0.0
        self.values = values
        return Solved(status, objective, bound, time.perf_counter() - started, served, values)

    def start_values(self, plan: dict[str, P.Choice]) -> np.ndarray:
        """A solution vector of the current plan of these orders (a warm start)."""
        out = np.zeros(self.n_col)
        index = {o.order_id: n for n, o in enumerate(self.orders)}
        slot_at = {
            (int(n), int(s), int(e)): k
            for k, (n, s, e) in enumerate(zip(self.slot_order, self.slot_start, self.slot_end, strict=True))
        }
        chosen_slots = {}
        for oid, choice in plan.items():
            if not isinstance(choice, P.Choice) or oid not in index:
                continue
            k = slot_at.get((index[oid], choice.start, choice.end))
            if k is not None:
                chosen_slots[k] = choice
                out[self.slot_y[k]] = 1.0
        if not chosen_slots:
            return out
        skill_no = {s: k for k, s in enumerate(self.skills)}
        want = set()
        for k, choice in chosen_slots.items():
            for i, skill, _ in choice.crew:
                want.add((k, skill_no.get(skill, -1), i))
        sel = [
            j
            for j in np.flatnonzero(np.isin(self.x_slot, list(chosen_slots)))
            if (int(self.x_slot[j]), int(self.x_skill[j]), int(self.x_vol[j])) in want
        ]
        out[self.x_col[sel]] = 1.0
        for j in np.flatnonzero(np.isin(self.z_slot, list(chosen_slots))):
            choice = chosen_slots[int(self.z_slot[j])]
            if choice.troupe is not None and self.inst.troupe_ids[int(self.z_troupe[j])] == choice.troupe:
                out[self.z_col[j]] = 1.0
                members = self.inst.members[int(self.z_troupe[j])]
                crew = {i for i, _, _ in choice.crew}
                for q in np.flatnonzero(self.b_slot == self.z_slot[j]):
                    v = int(self.b_vol[q])
                    if v in crew and members[v]:
                        out[self.b_col[q]] = 1.0
        return out

    def plan(self, values: np.ndarray | None = None) -> dict[int, tuple[int, int, str | None, list[tuple[int, str]]]]:
        """Per order (its position in ``orders``): the slot, the troupe and the crew of a solution."""
        values = self.values if values is None else values
        out = {}
        if values is None:
            return out
        on = values > 0.5
        chosen = np.flatnonzero(on[self.slot_y])
        xs = np.flatnonzero(on[self.x_col])
        zs = np.flatnonzero(on[self.z_col]) if len(self.z_col) else np.zeros(0, dtype=np.int64)
        troupe_of = {int(self.z_slot[j]): self.inst.troupe_ids[int(self.z_troupe[j])] for j in zs}
        crews: dict[int, list] = {}
        for j in xs:
            crews.setdefault(int(self.x_slot[j]), []).append((int(self.x_vol[j]), self.skills[int(self.x_skill[j])]))
        for k in chosen:
            k = int(k)
            troupe = troupe_of.get(k)
            crew = crews.get(k, [])
            if troupe is not None and not self.inst.members[self.inst.troupe_index[troupe], [i for i, _ in crew]].any():
                troupe = None  # sent for nothing: keep its week free
            out[int(self.slot_order[k])] = (int(self.slot_start[k]), int(self.slot_end[k]), troupe, crew)
        return out
