"""Smoke tests of the benchmarks: each runs at tiny sizes (see conftest.py) and its result has
the shape bench/results/*.json have, with sane values; bench.report turns the results into
README.md and plots."""

import json

from bench import report


def test_dispatch(dispatch_result, bench_results):
    d = dispatch_result
    assert json.loads((bench_results / "dispatch.json").read_text()) == d
    assert d["orders"] == 60
    assert 0 < d["planned"] <= d["orders"]
    assert d["hard_rules_broken"] == 0
    assert d["objective"] > 0 and d["seconds"] >= 0
    assert d["reference"]["method"] == "Lagrangian relaxation, troupes exact"
    assert d["reference_objective"] >= d["objective"]  # an upper bound on the best objective
    assert 0 <= d["gap"] < 1
    assert d["online_orders"] == 20
    assert 0 < d["online_p50_ms"] <= d["online_p99_ms"]
    assert d["best_known"] >= d["objective"]
    suggested = d["suggested_windows"]
    assert suggested["orders"] == 10 and 0 <= suggested["planned_at_random"] <= 1
    assert 0 <= suggested["planned_in_suggested_window"] <= 1 and suggested["suggest_p50_ms"] > 0
    small = d["small"]
    assert small["lp_status"] == "Optimal"
    assert 0 < small["planned"] <= small["orders"] == 500
    assert small["hard_rules_broken"] == 0
    # the exact MIP's proven bound lies between its best plan and the LP's, and above the planner's
    assert small["lp_bound"] + 1e-6 >= small["mip_bound"] >= small["mip_best"] - 1e-6
    assert small["mip_bound"] >= small["objective"] > 0
    # the Lagrangian bound is an upper bound too: above every plan (it may end just under the LP's,
    # each order's choice being whole in it)
    assert small["lagrangian_bound"] >= max(small["mip_best"], small["objective"]) - 1e-6
    assert 0 <= small["gap"] < 1 and 0 < small["served_vs_optimum"] <= 1.5
    assert d["peak_rss_mib"] > 0


def test_reporting(reporting_result):
    r = reporting_result
    assert (r["orders"], r["responses"]) == (100, 300)
    assert [s["responses"] for s in r["stages"]] == [3, 30, 300]
    for stage in r["stages"]:
        assert stage["orders"] > 0 and stage["events_projected"] > 0 and stage["events_per_s"] > 0
        queries = stage["queries"]
        for name in ("dashboard_year", "dashboard_month", "comments", "all_questions", "raw_find_one_by_id"):
            assert 0 < queries[name]["p50_ms"] <= queries[name]["p95_ms"], name
        assert queries["p95_over_raw_p50"] > 0
    assert r["stages"][-1]["fact_rows"] > 0
    assert r["archive_writes_per_s"] > 0
    assert r["p95_at_1m_ms"] == r["stages"][-1]["queries"]["all_questions"]["p95_ms"]
    assert r["growth_p95_1m_over_10k"] > 0
    assert r["target_p95_ms"] == 200 and isinstance(r["target_met"], bool)
    assert r["peak_rss_mib"]["bench"] > 0 and r["peak_rss_mib"]["database"] > 0


def test_intake(intake_result, bench_results):
    i = intake_result
    assert json.loads((bench_results / "intake.json").read_text())["burst"] == i["burst"]
    assert i["benchmark"] == "intake"
    hello, burst = i["ceiling_hello"], i["burst"]
    assert hello["requests_per_s"] > 0 and hello["accepted"] == hello["requests"]
    assert burst["accepted"] > 0 and burst["accepted_per_s"] > 0
    assert "202" in burst["statuses"]
    assert burst["lost"] == 0 and burst["stored"] >= burst["accepted"]
    assert 0 < burst["p50_ms"] <= burst["p99_ms"]
    assert burst["all_stored_after_s"] >= 0
    assert 0 < i["ratio_to_hello"]
    assert isinstance(i["met"], bool)
    assert i["peak_rss_mib"]["gateway#1"] > 0 and i["peak_rss_mib"]["database"] > 0


def test_pipeline(pipeline_result, bench_results):
    p = json.loads((bench_results / "pipeline.json").read_text())
    assert p == pipeline_result
    assert p["raw"]["broker_messages_per_s"] > 0 and p["raw"]["database_writes_per_s"] > 0
    (run,) = p["runs"]
    assert run["processes"] == 1 and run["closed"] == run["orders"] == 3 and run["failed"] == 0
    assert run["orders_per_s"] > 0 and 0 < run["ratio"]
    # every order crosses the broker and the database many times; both are counted
    assert run["messages_per_order"] >= 10 and run["writes_per_order"] >= 10
    assert run["limited_by"] in ("broker", "database")
    busiest = run["busiest_collections"]
    assert "dispatch" in {r["collection"].split(".")[0] for r in busiest}
    assert [r["ms_per_order"] for r in busiest] == sorted((r["ms_per_order"] for r in busiest), reverse=True)
    assert run["cpu_ms_per_order"]["database"] > 0 and run["cpu_ms_per_order"]["dispatch"] > 0
    grown = p["growth"]["grown"]
    assert p["growth"]["scale"] == 2 and grown["closed"] == 3
    # 3 singers and 3 players in each of the 2 palaces, copied once more
    assert grown["copied_documents"]["dispatch.volunteers"] == 12 and grown["copied_documents"]["orders.orders"] == 3
    assert run["peak_rss_mib"]["gateway#1"] > 0 and run["peak_rss_mib"]["database"] > 0


def test_report(bench_results, dispatch_result, reporting_result, intake_result, pipeline_result):
    out = report.main(["--results", str(bench_results)])
    readme = (bench_results / "README.md").read_text()
    assert out["readme"] == str(bench_results / "README.md")
    assert set(out["found"]) >= {"intake", "dispatch", "reporting", "pipeline"}
    for name in ("intake", "dispatch", "reporting", "pipeline"):
        png = bench_results / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000, name
        assert f"![{name}]({name}.png)" in readme
    assert "## Intake" in readme and "## Dispatch" in readme and "## Reporting" in readme
    assert "| `intake.json` |" in readme
    assert "## Pipeline" in readme


def _pipeline_run(processes: int, orders: int = 4) -> dict:
    return {
        "processes": processes,
        "orders": orders,
        "closed": orders,
        "seconds": 8.0 / processes,
        "orders_per_s": 0.5 * processes,
        "messages_per_order": 30.0,
        "writes_per_order": 45.0,
        "limit_orders_per_s": 0.8 * processes,
        "ratio": 0.625,
        "latency_p50_s": 2.0,
        "latency_p99_s": 4.5,
        "peak_rss_mib": {"gateway#1": 70.0, "orders#1": 60.0, "database": 150.0},
    }


def test_report_pipeline_shape(tmp_path):
    """bench.report on a pipeline.json of the documented shape alone; the others are missing."""
    data = {
        "benchmark": "pipeline",
        "when": "2026-11-24T10:00:00+08:00",
        "machine": {"cpus": 2},
        "settings": {"orders": 4, "processes": [1, 2], "growth": 10},
        "raw": {"broker_messages_per_s": 9000.0, "database_writes_per_s": 4000.0},
        "runs": [_pipeline_run(1), _pipeline_run(2)],
        "growth": {
            "scale": 10,
            "base": _pipeline_run(1),
            "grown": _pipeline_run(1),
            "writes_per_order_ratio": 1.0,
            "seconds_per_order_ratio": 1.0,
        },
        "target": {"ratio": 0.6},
        "met": True,
    }
    (tmp_path / "pipeline.json").write_text(json.dumps(data))
    out = report.main(["--results", str(tmp_path)])
    readme = (tmp_path / "README.md").read_text()
    assert out["found"] == ["pipeline"]
    assert out["skipped"] == ["intake", "dispatch", "reporting"]
    assert (tmp_path / "pipeline.png").stat().st_size > 5000
    assert "![pipeline](pipeline.png)" in readme
    assert "| 2 | 4/4 | 4.0 | 1.0 | 1.6 | 0.62 | 30.0 | 45.0 | 2.00 | 4.50 | 70.0 | 150.0 |" in readme
    assert "Target ratio ≥ 0.6: met." in readme
    assert "grown/base" in readme
    for name in ("intake", "dispatch", "reporting"):
        assert f"No `{name}.json` here: skipped." in readme
    assert not (tmp_path / "intake.png").exists()

    data["growth"] = None
    (tmp_path / "pipeline.json").write_text(json.dumps(data))
    report.main(["--results", str(tmp_path)])
    assert "grown/base" not in (tmp_path / "README.md").read_text()
