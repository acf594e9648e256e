"""Each benchmark run once per test session at the tiniest sizes it accepts, writing into a
temporary results folder (never bench/results); the smoke tests and bench.report's test share
the results."""

import json
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

# The small LP instance of the dispatch benchmark is generated with 20 districts; with seed 7,
# 500 orders (100 volunteers) is the least that leaves no troupe's district without volunteers.
DISPATCH = "--orders 60 --volunteers 20 --troupes 5 --districts 3 --budget 0.5 --online 20 --iterations 20 --bound-seconds 20 --small 500 --mip-seconds 10 --suggest 10"
REPORTING = "--orders 100 --responses 300 --repeat 3"
INTAKE = "--surveys 2 --connections 2 --seconds 1"
PIPELINE = "--orders 3 --processes 1 --growth 2 --palaces 2 --singers 3 --troupes 1 --in-flight 3 --timeout 120"


@pytest.fixture(scope="session")
def bench_results(tmp_path_factory):
    return tmp_path_factory.mktemp("bench-results")


@pytest.fixture(scope="session")
def dispatch_result(bench_results):
    from bench import dispatch

    return dispatch.main([*DISPATCH.split(), "--out", str(bench_results / "dispatch.json")])


@pytest.fixture(scope="session")
def reporting_result(bench_results):
    from bench import reporting

    out = bench_results / "reporting.json"
    reporting.main([*REPORTING.split(), "--out", str(out)])
    return json.loads(out.read_text())


@pytest.fixture(scope="session")
def intake_result(bench_results):
    from bench import intake

    return intake.main([*INTAKE.split(), "--out", str(bench_results / "intake.json")])


@pytest.fixture(scope="session")
def pipeline_result(bench_results):
    """Run as its own process, as `make bench-pipeline` does: its driver uses real threads, which
    the tests' eventlet patching would turn green."""
    out, log = bench_results / "pipeline.json", bench_results / "pipeline.log"
    with open(log, "wb") as f:
        done = subprocess.run(
            [sys.executable, "-m", "bench.pipeline", *PIPELINE.split(), "--out", str(out)],
            cwd=ROOT,
            stdout=f,
            stderr=subprocess.STDOUT,
            timeout=200,
        )
    assert done.returncode == 0, log.read_text(errors="replace")[-4000:]
    return json.loads(out.read_text())
