"""How bench.pipeline compares process counts: rounds alternate their order, and each count's
figure is the median of its rounds, against the smallest count's."""

from bench.pipeline import level_order, scaling


def _run(processes, orders_per_s, cpu):
    return {
        "processes": processes,
        "orders_per_s": orders_per_s,
        "cpu_ms_per_order": {"all": cpu, "services": cpu / 2},
        "broker_nodes_cpu_ms_per_order": {"rabbit@localhost": cpu / 10},
        "stage_p50_p90_s": {"placed→offer_made": [1.0, 2.0]},
        "conflicts": {"extra_runs_per_order": 0.5},
    }


def test_rounds_alternate_so_no_count_always_runs_last():
    assert level_order([1, 2, 4], 1) == [1, 2, 4]
    assert level_order([1, 2, 4], 3) == [1, 2, 4, 4, 2, 1, 1, 2, 4]


def test_each_count_is_the_median_of_its_rounds_against_the_smallest_count():
    runs = [_run(1, 2.0, 800), _run(4, 1.0, 1200), _run(4, 2.1, 820), _run(1, 1.9, 780), _run(4, 2.0, 800)]
    out = scaling(runs)
    one, four = out["by_processes"]
    assert one["processes"] == 1 and one["rounds"] == 2 and one["orders_per_s"] == 1.95
    assert four["rounds"] == 3 and four["orders_per_s"] == 2.0 and four["orders_per_s_each"] == [1.0, 2.1, 2.0]
    assert four["orders_per_s_ratio"] == round(2.0 / 1.95, 3) and four["cpu_per_order_ratio"] == round(820 / 790, 3)
    assert four["broker_nodes_cpu_ms_per_order"] == {"rabbit@localhost": 82.0}
    assert out["met"] is True
    slower = scaling([_run(1, 2.0, 800), _run(2, 1.5, 800)])
    assert slower["met"] is False and slower["by_processes"][1]["orders_per_s_ratio"] == 0.75
