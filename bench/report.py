"""The benchmarks' results in one page: reads whichever of pipeline.json, intake.json (and its
variants intake-*.json), dispatch.json and reporting.json a results folder holds, and writes
README.md beside them, one table per benchmark, with PNG plots drawn by matplotlib.

Usage: python -m bench.report [--results bench/results]
"""

from __future__ import annotations

import argparse
import json
import pathlib

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
BENCHMARKS = ("pipeline", "intake", "dispatch", "reporting")
DASH = "—"


def fmt(value, digits: int = 1, suffix: str = "") -> str:
    """A number for a table cell; a dash for a missing one."""
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}{suffix}"
    if isinstance(value, float):
        if value != value:  # NaN
            return DASH
        if abs(value) >= 1000:
            return f"{value:,.0f}{suffix}"
        return f"{value:,.{digits}f}{suffix}"
    return f"{value}{suffix}"


def pct(value) -> str:
    return DASH if value is None else f"{100 * value:.1f} %"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def load(path: pathlib.Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, path: pathlib.Path) -> pathlib.Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    pyplot().close(fig)
    return path


# --- pipeline -----------------------------------------------------------------------------------


def pipeline_section(data: dict, folder: pathlib.Path) -> tuple[list[str], list[pathlib.Path]]:
    runs = data.get("runs") or []
    target = (data.get("target") or {}).get("ratio")
    lines = [
        "## Pipeline",
        "",
        "Orders from placing to closing through every service, at each process count, against what "
        "the broker and the database alone can do on this machine (the limit).",
        "",
    ]
    raw = data.get("raw") or {}
    if raw:
        lines += [
            f"Raw rates: broker {fmt(raw.get('broker_messages_per_s'))} messages/s, "
            f"database {fmt(raw.get('database_writes_per_s'))} writes/s.",
            "",
        ]
    rows = []
    for run in runs:
        rss = dict(run.get("peak_rss_mib") or {})
        database = rss.pop("database", None)
        rows.append(
            [
                fmt(run.get("processes")),
                f"{fmt(run.get('closed'))}/{fmt(run.get('orders'))}",
                fmt(run.get("seconds")),
                fmt(run.get("orders_per_s")),
                fmt(run.get("limit_orders_per_s")),
                fmt(run.get("ratio"), 2),
                fmt(run.get("messages_per_order")),
                fmt(run.get("writes_per_order")),
                fmt(run.get("latency_p50_s"), 2),
                fmt(run.get("latency_p99_s"), 2),
                fmt(max(rss.values())) if rss else DASH,
                fmt(database),
            ]
        )
    lines += table(
        [
            "processes",
            "closed/orders",
            "s",
            "orders/s",
            "limit orders/s",
            "ratio",
            "messages/order",
            "writes/order",
            "p50 s",
            "p99 s",
            "largest service MiB",
            "database MiB",
        ],
        rows,
    )
    growth = data.get("growth")
    if growth:
        base, grown = growth.get("base") or {}, growth.get("grown") or {}
        lines += [
            "",
            f"Growth: the databases grown {fmt(growth.get('scale'))}-fold (volunteers, troupes and every order's "
            "history copied), then the same orders carried again; the cost per order should not grow with the data.",
            "",
        ]
        lines += table(
            ["", "orders", "orders/s", "messages/order", "writes/order", "s/order"],
            [
                [
                    name,
                    fmt(r.get("orders")),
                    fmt(r.get("orders_per_s")),
                    fmt(r.get("messages_per_order")),
                    fmt(r.get("writes_per_order")),
                    fmt(1 / r["orders_per_s"], 3) if r.get("orders_per_s") else DASH,
                ]
                for name, r in (("base", base), ("grown", grown))
            ]
            + [
                [
                    "grown/base",
                    "",
                    "",
                    fmt(growth.get("messages_per_order_ratio"), 2),
                    fmt(growth.get("writes_per_order_ratio"), 2),
                    fmt(growth.get("seconds_per_order_ratio"), 2),
                ]
            ],
        )
    lines += ["", _target_line(f"ratio ≥ {target}" if target is not None else None, data.get("met"), data)]
    plots = []
    if runs:
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(6.4, 4))
        procs = [r.get("processes") for r in runs]
        ax.plot(procs, [r.get("orders_per_s") for r in runs], "o-", label="orders/s")
        ax.plot(procs, [r.get("limit_orders_per_s") for r in runs], "s--", label="limit (broker, database)")
        if target is not None:
            ax.plot(
                procs,
                [target * (r.get("limit_orders_per_s") or 0) for r in runs],
                ":",
                color="grey",
                label=f"target ({target} × limit)",
            )
        for r in runs:
            if r.get("ratio") is not None and r.get("orders_per_s") is not None:
                ax.annotate(
                    f"{r['ratio']:.2f}",
                    (r.get("processes"), r["orders_per_s"]),
                    textcoords="offset points",
                    xytext=(0, 6),
                    ha="center",
                )
        ax.set_xticks(procs)
        ax.set_xlabel("processes per service")
        ax.set_ylabel("orders/s")
        ax.set_ylim(bottom=0)
        ax.set_title("Pipeline: orders/s and limit")
        ax.legend()
        plots.append(save(fig, folder / "pipeline.png"))
        lines += ["", "![pipeline](pipeline.png)"]
    return lines, plots


def _target_line(target: str | None, met, data: dict) -> str:
    when = data.get("when")
    parts = []
    if target:
        parts.append(f"Target {target}: {'met' if met else 'not met'}.")
    if when:
        parts.append(f"Run {when}.")
    return " ".join(parts)


# --- intake -------------------------------------------------------------------------------------


def intake_section(runs: list[tuple[str, dict]], folder: pathlib.Path) -> tuple[list[str], list[pathlib.Path]]:
    lines = [
        "## Intake",
        "",
        "The audience burst on the public survey endpoint (wrk), against a bare nameko hello on the same "
        "server stack (the ceiling).",
        "",
    ]
    rows = []
    for name, data in runs:
        burst = data.get("burst") or {}
        hello = data.get("ceiling_hello") or {}
        settings = data.get("settings") or {}
        rows.append(
            [
                f"`{name}`",
                str(data.get("when", DASH))[:16].replace("T", " "),
                f"{fmt(settings.get('gateways'))}/{fmt(settings.get('connections'))}/{fmt(settings.get('seconds'))}",
                fmt(burst.get("accepted_per_s")),
                fmt(burst.get("p50_ms")),
                fmt(burst.get("p99_ms")),
                fmt(burst.get("all_stored_after_s"), 2),
                fmt(burst.get("lost")),
                fmt(hello.get("requests_per_s")),
                fmt(hello.get("p99_ms")),
                fmt(data.get("ratio_to_hello"), 3),
                fmt(data.get("met")),
            ]
        )
    lines += table(
        [
            "file",
            "when",
            "gateways/connections/s",
            "accepted/s",
            "p50 ms",
            "p99 ms",
            "all stored after s",
            "lost",
            "hello req/s",
            "hello p99 ms",
            "ratio to hello",
            "target met",
        ],
        rows,
    )
    target = runs[0][1].get("target") or {}
    if target:
        lines += [
            "",
            f"Target: {fmt(target.get('accepted_per_s'))} accepted/s, p99 ≤ {fmt(target.get('p99_ms'))} ms, "
            f"{fmt(target.get('lost'))} lost.",
        ]
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 4))
    labels = [name for name, _ in runs]
    xs = range(len(runs))
    width = 0.38
    bursts = [d.get("burst") or {} for _, d in runs]
    hellos = [d.get("ceiling_hello") or {} for _, d in runs]
    left.bar([x - width / 2 for x in xs], [b.get("accepted_per_s") or 0 for b in bursts], width, label="survey burst")
    left.bar([x + width / 2 for x in xs], [h.get("requests_per_s") or 0 for h in hellos], width, label="hello ceiling")
    right.bar([x - width / 2 for x in xs], [b.get("p99_ms") or 0 for b in bursts], width, label="survey burst")
    right.bar([x + width / 2 for x in xs], [h.get("p99_ms") or 0 for h in hellos], width, label="hello ceiling")
    if target.get("accepted_per_s"):
        left.axhline(target["accepted_per_s"], color="grey", linestyle=":", label="target")
    if target.get("p99_ms"):
        right.axhline(target["p99_ms"], color="grey", linestyle=":", label="target")
    for ax, title, unit in ((left, "accepted/s", "requests/s"), (right, "p99 latency", "ms")):
        ax.set_xticks(list(xs))
        ax.set_xticklabels(labels, rotation=15, ha="right", fontsize=8)
        ax.set_ylabel(unit)
        ax.set_title(f"Intake: {title}")
        ax.legend(fontsize=8)
    lines += ["", "![intake](intake.png)"]
    return lines, [save(fig, folder / "intake.png")]


# --- dispatch -----------------------------------------------------------------------------------


def dispatch_section(data: dict, folder: pathlib.Path) -> tuple[list[str], list[pathlib.Path]]:
    ref = data.get("reference") or {}
    small = data.get("small") or {}
    lines = [
        "## Dispatch",
        "",
        "The planner on a generated city's month, batch and online, against an upper bound on the best "
        "possible objective of the same instance.",
        "",
    ]
    lines += table(
        [
            "instance",
            "planned/orders",
            "batch s",
            "objective",
            "bound",
            "gap",
            "online p50 ms",
            "online p99 ms",
            "hard rules broken",
            "peak MiB",
        ],
        [
            [
                f"city: {fmt(data.get('volunteers'))} volunteers, {fmt(data.get('troupes'))} troupes, "
                f"{fmt(data.get('districts'))} districts",
                f"{fmt(data.get('planned'))}/{fmt(data.get('orders'))}",
                fmt(data.get("seconds"), 2),
                fmt(data.get("objective")),
                f"{fmt(data.get('reference_objective'))} ({ref.get('method', 'none')})",
                pct(data.get("gap")),
                fmt(data.get("online_p50_ms"), 2),
                fmt(data.get("online_p99_ms"), 2),
                fmt(data.get("hard_rules_broken")),
                fmt(data.get("peak_rss_mib")),
            ]
        ]
        + (
            [
                [
                    f"district: {fmt(small.get('volunteers'))} volunteers",
                    f"{fmt(small.get('planned'))}/{fmt(small.get('orders'))}",
                    fmt(small.get("seconds"), 2),
                    fmt(small.get("objective")),
                    f"{fmt(small.get('mip_bound'))} (exact MIP, {small.get('mip_status', DASH)})",
                    pct(small.get("gap")),
                    DASH,
                    DASH,
                    DASH,
                    DASH,
                ]
            ]
            if small
            else []
        ),
    )
    lines += ["", f"Online: {fmt(data.get('online_orders'))} orders planned one at a time as they arrive."]
    bars = []
    if data.get("objective") is not None and data.get("reference_objective"):
        bars.append(("city", data["objective"], data["reference_objective"], ref.get("method", "bound")))
    if small.get("objective") is not None and small.get("mip_bound"):
        bars.append(("district", small["objective"], small["mip_bound"], "exact MIP (proven bound)"))
    if not bars:
        return lines, []
    plt = pyplot()
    fig, axes = plt.subplots(1, len(bars), figsize=(4 * len(bars), 4), squeeze=False)
    for ax, (name, objective, bound, method) in zip(axes[0], bars, strict=True):
        ax.bar(["planner", "bound"], [objective, bound], color=["tab:blue", "tab:grey"])
        ax.set_title(f"Dispatch ({name}): gap {(bound - objective) / bound:.1%}")
        ax.set_ylabel("objective")
        ax.set_xlabel(method, fontsize=8)
    lines += ["", "![dispatch](dispatch.png)"]
    return lines, [save(fig, folder / "dispatch.png")]


# --- reporting ----------------------------------------------------------------------------------


def reporting_section(data: dict, folder: pathlib.Path) -> tuple[list[str], list[pathlib.Path]]:
    stages = data.get("stages") or []
    lines = [
        "## Reporting",
        "",
        "Every dashboard question, timed after each loading stage, next to a plain read by id on the same database.",
        "",
    ]
    rows = []
    for stage in stages:
        q = stage.get("queries") or {}
        questions = {
            k: v for k, v in q.items() if isinstance(v, dict) and k not in ("all_questions", "raw_find_one_by_id")
        }
        slowest = max(questions.items(), key=lambda kv: kv[1].get("p95_ms") or 0) if questions else None
        rows.append(
            [
                fmt(stage.get("responses")),
                fmt(stage.get("orders")),
                fmt(stage.get("events_per_s")),
                fmt((q.get("all_questions") or {}).get("p50_ms")),
                fmt((q.get("all_questions") or {}).get("p95_ms")),
                f"{slowest[0]} {fmt(slowest[1].get('p95_ms'))}" if slowest else DASH,
                fmt((q.get("raw_find_one_by_id") or {}).get("p50_ms"), 2),
            ]
        )
    lines += table(
        [
            "responses",
            "orders",
            "events projected/s",
            "all questions p50 ms",
            "all questions p95 ms",
            "slowest question p95 ms",
            "raw read p50 ms",
        ],
        rows,
    )
    lines += [
        "",
        f"Archive writes {fmt(data.get('archive_writes_per_s'))}/s; p95 grows "
        f"{fmt(data.get('growth_p95_1m_over_10k'), 2)}× from the first stage to the last. "
        + _target_line(
            f"p95 ≤ {fmt(data.get('target_p95_ms'))} ms at {fmt(data.get('responses'))} responses",
            data.get("target_met"),
            data,
        ),
    ]
    if not stages:
        return lines, []
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    xs = [s.get("responses") for s in stages]
    names = [k for k, v in (stages[0].get("queries") or {}).items() if isinstance(v, dict)]
    for name in names:
        ys = [((s.get("queries") or {}).get(name) or {}).get("p95_ms") for s in stages]
        style = "k-o" if name == "all_questions" else ("k:" if name == "raw_find_one_by_id" else ".-")
        ax.plot(xs, ys, style, label=name, linewidth=2 if name == "all_questions" else 1)
    if data.get("target_p95_ms"):
        ax.axhline(data["target_p95_ms"], color="red", linestyle="--", linewidth=1, label="target")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("responses stored")
    ax.set_ylabel("p95 ms")
    ax.set_title("Reporting: dashboard questions' p95")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    lines += ["", "![reporting](reporting.png)"]
    return lines, [save(fig, folder / "reporting.png")]


# --- the page -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default=str(RESULTS), help="folder holding the benchmarks' JSON files")
    args = parser.parse_args(argv)
    folder = pathlib.Path(args.results)
    folder.mkdir(parents=True, exist_ok=True)

    lines = [
        "# Benchmark results",
        "",
        "Written by `python -m bench.report` (`make bench` runs every benchmark, then this) from the JSON "
        "files in this folder; each section says what its benchmark measures, the JSON has every figure.",
    ]
    found, skipped, plots = [], [], []
    for name in BENCHMARKS:
        path = folder / f"{name}.json"
        data = load(path)
        if data is None:
            skipped.append(name)
            lines += ["", f"## {name.capitalize()}", "", f"No `{name}.json` here: skipped."]
            continue
        found.append(name)
        if name == "pipeline":
            section, drawn = pipeline_section(data, folder)
        elif name == "intake":
            runs = [(path.name, data)]
            for variant in sorted(folder.glob("intake-*.json")):
                other = load(variant)
                if other is not None and other.get("benchmark") == "intake":
                    runs.append((variant.name, other))
            section, drawn = intake_section(runs, folder)
        elif name == "dispatch":
            section, drawn = dispatch_section(data, folder)
        else:
            section, drawn = reporting_section(data, folder)
        lines += ["", *section]
        plots += drawn
    readme = folder / "README.md"
    readme.write_text("\n".join(lines).rstrip() + "\n")
    print(f"wrote {readme} ({', '.join(p.name for p in plots) or 'no plots'}); skipped: {', '.join(skipped) or 'none'}")
    return {"readme": str(readme), "plots": [str(p) for p in plots], "found": found, "skipped": skipped}


if __name__ == "__main__":
    main()
