"""make bench-dispatch: the batch planner and the online planner on a city-sized month, against
a troupe-exact Lagrangian bound of the same instance, and on a district against the exact MIP.

Writes bench/results/dispatch.json. Usage: python -m bench.dispatch [--seed 7] [--orders 10000]
[--volunteers 2000] [--troupes 300] [--districts 20] [--online 2000] [--no-reference]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import pathlib
import resource
import sys
import time

import numpy as np

from bench.city import generate
from services.dispatch import planner as P

RESULTS = pathlib.Path(__file__).parent / "results"


def build(city: dict) -> tuple[P.Instance, list[P.Order]]:
    inst = P.Instance(P.Rules(), city["origin"], city["days"], city["volunteers"], city["troupes"], city["districts"])
    repertoire: dict[str, list[str]] = {}
    for troupe in city["troupes"]:
        for program_id in troupe["repertoire"]:
            repertoire.setdefault(program_id, []).append(troupe["troupe_id"])
    orders = []
    for o in city["orders"]:
        u = 0.5 * P.underserved(city["enterprise_days"][o["enterprise_id"]])
        u += 0.5 * P.underserved(city["district_days"][o["district"]])
        program = city["programs"][o["program_id"]]
        orders.append(P.make_order(inst, o, program, repertoire.get(o["program_id"], []), u))
    return inst, orders


def peak_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def check(inst: P.Instance, orders: list[P.Order], results: dict) -> int:
    """Count broken hard rules in a plan (0 expected): overlap with the rest gap, availability, limits."""
    by_id = {o.order_id: o for o in orders}
    held: dict[int, list[tuple[int, int]]] = {}
    broken = 0
    for r in results.values():
        if not isinstance(r, P.Choice):
            continue
        order = by_id[r.order_id]
        people = [i for i, _, _ in r.crew]
        broken += len(people) != len(set(people))
        need = {}
        for _, skill, _ in r.crew:
            need[skill] = need.get(skill, 0) + 1
        broken += need != {s: n for s, n in order.needs}
        for i in people:
            broken += not inst.avail[i, r.start : r.end].all()
            held.setdefault(i, []).append((r.start, r.end))
    gap = 2 * inst.rules.half_gap
    for spans in held.values():
        spans.sort()
        broken += sum(1 for (a1, b1), (a2, _) in zip(spans, spans[1:], strict=False) if a2 - b1 < gap)
    broken += int((inst.week_count > inst.week_limit[:, None]).sum())
    broken += int((inst.month_minutes > inst.month_limit[:, None]).sum())
    return broken


def gap_parts(city: dict, results: dict, bound: float | None) -> dict:
    """What the distance to the bound is made of: each order's best alone (slot, troupe and
    people as if no other order existed: a bound of its own, looser than the reference) against
    the plan, by criterion; the orders left out, by the skills they need; and how far the
    reference bound lies below the orders-alone sum (what it proves the orders' conflicts cost)."""
    from services.dispatch import search

    inst, orders = build(city)
    scorer = search.Scorer(inst)
    alone: dict[str, float] = {}
    parts_alone = dict.fromkeys(("travel", "fairness", "troupe", "preference"), 0.0)
    for o in orders:
        got = scorer.best(o)
        if got is None:
            alone[o.order_id] = 0.0
            continue
        c = search.choice_of(inst, o, *got)
        alone[o.order_id] = c.value
        if isinstance(results[o.order_id], P.Choice):
            for _, _, p in c.crew:
                for k, v in p.items():
                    parts_alone[k] += v
    parts_plan = dict.fromkeys(parts_alone, 0.0)
    for r in results.values():
        if isinstance(r, P.Choice):
            for _, _, p in r.crew:
                for k, v in p.items():
                    parts_plan[k] += v
    missed = [o for o in orders if isinstance(results[o.order_id], P.Miss)]
    by_skill: dict[str, int] = {}
    for o in missed:
        for skill, _ in o.needs:
            by_skill[skill] = by_skill.get(skill, 0) + 1
    total_alone = sum(alone.values())
    out = {
        "orders_alone": round(total_alone, 1),
        "left_out": len(missed),
        "left_out_value_alone": round(sum(alone[o.order_id] for o in missed), 1),
        "left_out_by_skill": dict(sorted(by_skill.items(), key=lambda kv: -kv[1])),
        "served_loss_by_criterion": {k: round(parts_alone[k] - parts_plan[k], 1) for k in parts_alone},
        "troupes_sent": sum(1 for r in results.values() if isinstance(r, P.Choice) and r.troupe is not None),
        "troupe_deliveries_left": int(inst.troupe_limit.sum() * len(inst.week_keys)),
        "bound_below_orders_alone": round(total_alone - bound, 1) if bound is not None else None,
    }
    print(f"gap parts: {json.dumps(out, ensure_ascii=False)}", file=sys.stderr)
    return out


def suggested_windows(city: dict, inst: P.Instance, samples: int, seed: int) -> dict:
    """On the city as the batch left it: new orders placed in a window the order form suggests
    (windows.staffable, one of its few picked at random, as a union would) against the same
    orders placed at random (as bench.city draws windows); how often each is then planned."""
    import random

    from services.dispatch import windows

    rnd = random.Random(seed)
    programs = list(city["programs"].values())
    repertoire: dict[str, list[str]] = {}
    for troupe in city["troupes"]:
        for program_id in troupe["repertoire"]:
            repertoire.setdefault(program_id, []).append(troupe["troupe_id"])
    names = sorted(city["districts"])
    planned = {"suggested": 0, "random": 0}
    none_suggested, times = 0, []
    for k in range(samples):
        program = rnd.choice(programs)
        district = rnd.choice(names)
        day = rnd.randrange(city["days"])
        hour = rnd.choice([9, 10, 14, 15, 16, 19])
        span = program["duration_minutes"] + rnd.choice([0, 30, 60, 90])
        start = city["origin"] + dt.timedelta(days=day, hours=hour)
        base = {"order_id": f"new{k}", "district": district, "enterprise_id": None}
        at_random = P.make_order(
            inst,
            {**base, "windows": [{"start": start, "end": start + dt.timedelta(minutes=span)}]},
            program,
            repertoire.get(program["program_id"], []),
            1.0,
        )
        planned["random"] += isinstance(P.plan_order(inst, at_random), P.Choice)
        t = time.perf_counter()
        suggestion = P.make_order(
            inst,
            {**base, "windows": [{"start": city["origin"], "end": city["origin"] + dt.timedelta(days=city["days"])}]},
            program,
            repertoire.get(program["program_id"], []),
            1.0,
        )
        found = windows.staffable(inst, suggestion, windows.candidates(inst, suggestion.minutes, 0, inst.T))
        times.append((time.perf_counter() - t) * 1000)
        if not found:
            none_suggested += 1
            continue
        suggestion.windows = [rnd.choice(found)["window"]]
        planned["suggested"] += isinstance(P.plan_order(inst, suggestion), P.Choice)
    out = {
        "orders": samples,
        "planned_in_suggested_window": round(planned["suggested"] / samples, 4),
        "planned_at_random": round(planned["random"] / samples, 4),
        "nothing_suggested": none_suggested,
        "suggest_p50_ms": round(float(np.percentile(times, 50)), 1),
        "suggest_p99_ms": round(float(np.percentile(times, 99)), 1),
    }
    print(
        f"suggested windows: {samples} new orders, planned {out['planned_in_suggested_window']:.1%} in a suggested "
        f"window against {out['planned_at_random']:.1%} at random; suggestions p50 {out['suggest_p50_ms']} ms",
        file=sys.stderr,
    )
    return out


def small_instance(
    seed: int, orders: int, budget: float, mip_seconds: float, cached: dict | None = None, patience: int = 50
) -> dict:
    """The district instance: the planner against the exact MIP of the same instance (troupes
    modelled exactly), solved by HiGHS within ``mip_seconds`` to a proven bound, and against the
    LP relaxation and the Lagrangian bound of the same model (checks of the city's method)."""
    from bench.reference import lagrangian_bound, lp_bound

    city = generate(seed, orders, max(20, orders // 5), max(5, orders * 3 // 100), 20)
    inst, work = build(city)
    t0, c0 = time.perf_counter(), time.process_time()
    results = P.plan_batch(inst, work, improve_seconds=budget)
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    objective = P.objective(results)
    planned = sum(isinstance(r, P.Choice) for r in results.values())
    broken = check(inst, work, results)
    construct = dict(P.LAST_BATCH)
    if cached is not None:  # the references of an earlier run on the same instance
        lp = {"bound": cached["lp_bound"], "status": cached["lp_status"], "served": cached["lp_served"]}
        lp["seconds"] = cached["lp_seconds"]
        mip = {"status": cached["mip_status"], "best": cached["mip_best"], "bound": cached["mip_bound"]}
        mip.update(served=cached["mip_served"], seconds=cached["mip_seconds"])
        lg = {"bound": cached["lagrangian_bound"], "seconds": cached["lagrangian_seconds"]}
    else:
        inst, work = build(city)
        lp = lp_bound(inst, work)
        inst, work = build(city)
        mip = lp_bound(inst, work, time_limit=mip_seconds, integer=True, start=results)  # warm: the planner's plan
        inst, work = build(city)
        lg = lagrangian_bound(inst, work, max(objective, mip["best"]), 4000, time_limit=30, patience=patience)
    out = {
        "orders": orders,
        "volunteers": max(20, orders // 5),
        "troupes": max(5, orders * 3 // 100),
        "planned": planned,
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu_seconds, 2),
        "construct_seconds": round(construct["construct_seconds"], 2),
        "construct_objective": round(construct["construct_objective"], 1),
        "objective": round(objective, 1),
        "hard_rules_broken": broken,
        "references_reused": cached is not None,
        "search": construct.get("search"),
        "mip_status": mip["status"],
        "mip_best": round(mip["best"], 1),
        "mip_bound": round(mip["bound"], 1),
        "mip_served": int(round(mip["served"])),
        "mip_seconds": mip["seconds"],
        "lp_bound": round(lp["bound"], 1),
        "lp_status": lp["status"],
        "lp_served": lp["served"],
        "lp_seconds": lp["seconds"],
        "lagrangian_bound": round(lg["bound"], 1),
        "lagrangian_seconds": lg["seconds"],
        # the city's method where the optimum is known: how far above the MIP's best it ends
        "lagrangian_over_mip_best": round((lg["bound"] - mip["best"]) / mip["best"], 4) if mip["best"] > 0 else None,
        # against the proven bound (the optimum when the MIP closed), and the best plan it found
        "gap": round(max(0.0, (mip["bound"] - objective) / mip["bound"]), 4),
        "gap_to_mip_best": round((mip["best"] - objective) / mip["best"], 4) if mip["best"] > 0 else None,
        "served_vs_optimum": round(planned / max(mip["served"], 1), 4),
    }
    print(
        f"district ({orders} orders): planned {planned} in {seconds:.2f} s, objective {objective:.1f}; MIP "
        f"{mip['best']:.1f} serving {out['mip_served']}, bound {mip['bound']:.1f} ({mip['status']}, "
        f"{mip['seconds']} s); gap {out['gap']:.2%}; LP {lp['bound']:.1f}, Lagrangian {lg['bound']:.1f}",
        file=sys.stderr,
    )
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--volunteers", type=int, default=2_000)
    parser.add_argument("--troupes", type=int, default=300)
    parser.add_argument("--districts", type=int, default=20)
    parser.add_argument(
        "--budget", type=float, default=9.5, help="seconds after which the batch stops improving its plan"
    )
    parser.add_argument("--online", type=int, default=2_000, help="orders planned one at a time, as they arrive")
    parser.add_argument(
        "--reference",
        choices=("lagrangian", "lp", "none"),
        default="lagrangian",
        help="bound for the city: Lagrangian relaxation (default; the LP is too large to solve here) or the LP",
    )
    parser.add_argument("--iterations", type=int, default=5000, help="subgradient iterations of the Lagrangian bound")
    parser.add_argument(
        "--bound-seconds", type=float, default=150.0, help="time limit of the city's Lagrangian bound (CPU seconds)"
    )
    parser.add_argument(
        "--patience",
        type=int,
        default=50,
        help="subgradient iterations without a lower bound after which the step's factor halves",
    )
    parser.add_argument(
        "--theta",
        type=float,
        default=0.1,
        help="first step factor of the city's subgradient (small: it starts from the troupes' transport prices)",
    )
    parser.add_argument(
        "--best-known",
        type=float,
        default=None,
        help="objective of the best plan known for the city (default: this run's)",
    )
    parser.add_argument(
        "--small", type=int, default=1_000, help="orders of the district instance solved by MIP (0: skip)"
    )
    parser.add_argument("--mip-seconds", type=float, default=75.0, help="time limit of the district's exact MIP")
    parser.add_argument(
        "--suggest", type=int, default=200, help="new orders of the suggested-windows section (0: skip)"
    )
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="what the batch's budget is measured by: the wall clock (default), or this process's processor "
        "time, for a machine whose cores other work shares (seconds are then reported in both)",
    )
    parser.add_argument(
        "--reuse-bound",
        action="store_true",
        help="take the city's bound and the district's MIP, LP and Lagrangian from the results file when they "
        "are of the same instance (while iterating: those solves take minutes)",
    )
    parser.add_argument("--out", default=str(RESULTS / "dispatch.json"))
    args = parser.parse_args(argv)
    previous = None
    if pathlib.Path(args.out).exists():
        previous = json.loads(pathlib.Path(args.out).read_text())
    same = previous is not None and all(
        previous.get(k) == getattr(args, k) for k in ("seed", "orders", "volunteers", "troupes", "districts")
    )
    if args.clock == "cpu":
        P.CLOCK = time.process_time

    city = generate(args.seed, args.orders, args.volunteers, args.troupes, args.districts)
    print(
        f"instance: {args.orders} orders, {args.volunteers} volunteers, {args.troupes} troupes, "
        f"{args.districts} districts, seed {args.seed}",
        file=sys.stderr,
    )

    t0 = time.perf_counter()
    inst, orders = build(city)
    build_seconds = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    results = P.plan_batch(inst, orders, improve_seconds=args.budget)
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    construct = dict(P.LAST_BATCH)
    objective = P.objective(results)
    planned = sum(isinstance(r, P.Choice) for r in results.values())
    broken = check(inst, orders, results)
    print(
        f"batch: {planned}/{len(orders)} planned in {seconds:.2f} s (construction {construct['construct_seconds']:.2f} "
        f"s, objective {construct['construct_objective']:.1f}), objective {objective:.1f}, hard rules broken {broken}",
        file=sys.stderr,
    )

    suggested = suggested_windows(city, inst, args.suggest, args.seed) if args.suggest else None

    # online: orders arrive one by one; each is planned with its explanation and held
    inst, orders = build(city)
    arrivals = orders[: args.online]
    times = []
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    for order in arrivals:
        t = clock()
        got = P.plan_order(inst, order, explain=True)
        if isinstance(got, P.Choice):
            inst.apply(order, got)
        times.append((clock() - t) * 1000)
    online = np.array(times)
    print(
        f"online: {len(arrivals)} orders, p50 {np.percentile(online, 50):.2f} ms, "
        f"p99 {np.percentile(online, 99):.2f} ms",
        file=sys.stderr,
    )

    out = {
        "seed": args.seed,
        "orders": len(orders),
        "volunteers": args.volunteers,
        "troupes": args.troupes,
        "districts": args.districts,
        "planned": planned,
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu_seconds, 2),
        "clock": args.clock,
        "build_seconds": round(build_seconds, 2),
        "construct_seconds": round(construct["construct_seconds"], 2),
        "construct_objective": round(construct["construct_objective"], 1),
        "search": construct.get("search"),
        "objective": round(objective, 1),
        "hard_rules_broken": broken,
        "online_orders": len(arrivals),
        "online_p50_ms": round(float(np.percentile(online, 50)), 2),
        "online_p99_ms": round(float(np.percentile(online, 99)), 2),
        "suggested_windows": suggested,
        "reference": None,
        "reference_objective": None,
        "gap": None,
    }
    if args.reference != "none":
        from bench.reference import lagrangian_bound, lp_bound

        inst, orders = build(city)
        best_known = max(objective, args.best_known or 0.0, (previous or {}).get("best_known") or 0.0 if same else 0.0)
        if args.reuse_bound and same and previous.get("reference"):
            ref = {**previous["reference"], "reused": True}
        elif args.reference == "lp":
            ref = {"method": "LP relaxation, troupes exact (HiGHS)", **lp_bound(inst, orders)}
        else:
            ref = {
                "method": "Lagrangian relaxation, troupes exact",
                **lagrangian_bound(
                    inst,
                    orders,
                    best_known,
                    args.iterations,
                    time_limit=args.bound_seconds,
                    theta=args.theta,
                    patience=args.patience,
                ),
            }
        out["reference"] = ref
        out["reference_objective"] = round(ref["bound"], 1)
        out["best_known"] = round(best_known, 1)
        out["gap"] = round(max(0.0, (ref["bound"] - objective) / ref["bound"]), 4)
        out["gap_to_best_known"] = round((best_known - objective) / best_known, 4)
        print(
            f"reference: {ref['method']} bound {ref['bound']:.1f} ({ref['status']}, {ref['columns']} columns, "
            f"{ref['seconds']} s); gap {out['gap']:.2%}",
            file=sys.stderr,
        )
        out["gap_parts"] = gap_parts(city, results, ref["bound"])
    if args.small and args.reference != "none":
        cached = (previous or {}).get("small") if args.reuse_bound and same else None
        if cached is not None and cached.get("orders") != args.small:
            cached = None
        out["small"] = small_instance(args.seed, args.small, args.budget, args.mip_seconds, cached, args.patience)
    if previous is not None:
        # the figures of the run before this one (what the changes since are measured against)
        out["before"] = {k: v for k, v in previous.items() if k not in ("before", "small", "reference", "search")}
        if previous.get("small"):
            out["before"]["small"] = {k: v for k, v in previous["small"].items() if k != "search"}
    out["peak_rss_mib"] = peak_mib()
    path = pathlib.Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, ensure_ascii=False, indent=2) + "\n")
    print(json.dumps(out, ensure_ascii=False, indent=2))
    return out


if __name__ == "__main__":
    main()
