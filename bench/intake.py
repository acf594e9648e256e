"""make bench-intake: the audience burst. At the end of performances, workers answer the survey
from their phones all at once; wrk drives the public feedback endpoint with concurrent clients
(each request its own phone: own User-Agent, own client_ref) spread over many open surveys.

Reported: accepted responses/s, p50/p90/p99 latency, how long after the burst until every
accepted response is stored (and that none is lost), and, in the same run, a bare "hello" on the
same server stack (nameko's HTTP entrypoint on eventlet) as the ceiling. Writes
bench/results/intake.json.

Usage: python -m bench.intake [--surveys 100] [--connections 50] [--seconds 20] [--gateways 1]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import pathlib
import re
import subprocess
import sys
import time

from pymongo import MongoClient

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.system import EmbeddedMongo, System, Vhost, ensure_rabbit, peak_rss_mib  # noqa: E402
from contracts.base import new_id  # noqa: E402
from tests.helpers import publish_event  # noqa: E402
from tests.helpers import wait_until as wait_for  # noqa: E402
from tests.servers import free_port  # noqa: E402

RESULTS = ROOT / "bench" / "results"
from common.clock import CN  # noqa: E402


def wrk(base: str, script: str, args: list[str], connections: int, seconds: int, path: str = "/") -> dict:
    threads = max(1, min(2, connections))
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(ROOT / "bench" / "wrk" / script),
        base + path,
    ]
    if args:
        cmd += ["--", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    match = re.search(r"^WRK_JSON (.*)$", out, re.M)
    if not match:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    raw = json.loads(match.group(1))
    seconds_run = raw["duration_us"] / 1e6
    ok = sum(v for k, v in raw["statuses"].items() if k.startswith("2"))
    return {
        "seconds": round(seconds_run, 2),
        "requests": raw["requests"],
        "requests_per_s": round(raw["requests"] / seconds_run, 1),
        "accepted": ok,
        "accepted_per_s": round(ok / seconds_run, 1),
        "statuses": raw["statuses"],
        "p50_ms": round(raw["p50_us"] / 1000, 1),
        "p90_ms": round(raw["p90_us"] / 1000, 1),
        "p99_ms": round(raw["p99_us"] / 1000, 1),
        "max_ms": round(raw["max_us"] / 1000, 1),
        "socket_errors": raw["errors"],
    }


def hello_ceiling(connections: int, seconds: int, gateways: int) -> dict:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}"}
    config = ROOT / "var" / "bench-hello.yml"
    config.parent.mkdir(exist_ok=True)
    config.write_text("WEB_SERVER_ADDRESS: ${WEB_SERVER_ADDRESS}\nmax_workers: ${MAX_WORKERS:10}\n")
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "nameko", "run", "--config", str(config), "bench.hello:HelloService"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(gateways)
    ]
    base = f"http://127.0.0.1:{port}"
    try:
        import requests

        wait_for(lambda: _answers(requests, base + "/api/surveys/x/responses"), 30, what="the hello service")
        result = wrk(base, "survey.lua", ["x"], connections, seconds, "/")
        result["peak_rss_mib"] = [peak_rss_mib(p.pid) for p in procs]
        return result
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:  # a green server busy closing connections
                p.kill()


def _answers(requests, url: str) -> bool:
    try:
        return requests.post(url, data=b"{}", timeout=1).status_code == 201
    except requests.RequestException:
        return False


def open_surveys(system: System, count: int) -> list[str]:
    """Deliveries completed (as dispatch announces them); the feedback service opens a survey each."""
    start = dt.datetime.now(CN).replace(microsecond=0) - dt.timedelta(hours=2)
    for i in range(count):
        publish_event(
            system.config,
            "dispatch",
            "delivery_completed",
            order_id=new_id(),
            palace_id="haining",
            enterprise_id=f"ent{i % 40}",
            program_id="song",
            program_title="劳动者之歌",
            troupe_id="art",
            district="海宁",
            start=start.isoformat(),
            end=(start + dt.timedelta(hours=2)).isoformat(),
            people_served=300,
            completed_at=(start + dt.timedelta(hours=2)).isoformat(),
            volunteers=[],
        )
    surveys = MongoClient(system.env["MONGO_URI"])[f"{system.prefix}feedback"].surveys
    wait_for(lambda: surveys.count_documents({}) >= count, 120, what="the surveys to open")
    return [d["token"] for d in surveys.find({}, {"token": 1})]


def _cpu(system: System, mongo: EmbeddedMongo) -> dict[str, float]:
    return {**system.cpu_seconds(), "database": mongo.cpu_seconds()}


def _per_response(before: dict, after: dict, responses: int) -> dict[str, float]:
    return {k: round((after[k] - before.get(k, 0.0)) * 1000 / max(1, responses), 2) for k in after}


def burst(system: System, mongo: EmbeddedMongo, tokens: list[str], connections: int, seconds: int) -> dict:
    """The burst, then the wait until every accepted answer is stored; processor time per
    accepted answer by service in each of the two phases, and the database's work by collection."""
    db = MongoClient(system.env["MONGO_URI"])[f"{system.prefix}feedback"]

    def counted() -> int:
        # the surveys' running totals move in the same transaction as the answers are stored:
        # reading them costs the database a hundred small documents, where counting the answers
        # walks all of them (0.3 s of its processor at 10,000: polled, that alone held it up)
        return sum(d.get("count", 0) for d in db.surveys.find({}, {"count": 1}))

    before = db.responses.count_documents({})
    counted_before = counted()
    cpu_start, top_start = _cpu(system, mongo), mongo.top(system.prefix)
    result = wrk(system.base, "survey.lua", [",".join(tokens)], connections, seconds, "/")
    ended = time.time()
    cpu_burst = _cpu(system, mongo)
    accepted = result["accepted"]
    deadline = ended + 300
    while time.time() < deadline:
        if counted() - counted_before >= accepted:
            break
        time.sleep(0.2)
    stored_after = time.time() - ended
    cpu_end, top_end = _cpu(system, mongo), mongo.top(system.prefix)
    stored = db.responses.count_documents({})  # the answers themselves, once
    result["cpu_ms_per_response"] = {
        "during_burst": _per_response(cpu_start, cpu_burst, accepted),
        "storing_after": _per_response(cpu_burst, cpu_end, accepted),
    }
    result["database_per_response"] = {
        ns: {
            "writes": round((t["writes"] - top_start.get(ns, {}).get("writes", 0)) / max(1, accepted), 2),
            "reads": round((t["reads"] - top_start.get(ns, {}).get("reads", 0)) / max(1, accepted), 2),
            "time_ms": round((t["time_us"] - top_start.get(ns, {}).get("time_us", 0)) / 1000 / max(1, accepted), 3),
        }
        for ns, t in sorted(top_end.items(), key=lambda kv: -kv[1]["time_us"])
        if t["time_us"] > top_start.get(ns, {}).get("time_us", 0)
    }
    result["stored"] = stored - before
    result["lost"] = max(0, accepted - (stored - before))
    result["all_stored_after_s"] = round(stored_after, 2)
    result["counted_on_surveys"] = sum(d.get("count", 0) for d in db.surveys.find({}, {"count": 1}))
    return result


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--surveys", type=int, default=100)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--gateways", type=int, default=1)
    parser.add_argument("--processes", type=int, default=1, help="processes of every other service")
    parser.add_argument("--out", default=str(RESULTS / "intake.json"))
    args = parser.parse_args(argv)
    ensure_rabbit()
    subprocess.run(["bash", str(ROOT / "scripts" / "ensure_bench_tools.sh")], check=True)

    print(f"ceiling: bare hello, {args.connections} connections, {args.seconds} s", flush=True)
    hello = hello_ceiling(args.connections, args.seconds, args.gateways)
    print(f"  {hello['requests_per_s']} requests/s, p99 {hello['p99_ms']} ms", flush=True)

    with Vhost() as vhost, EmbeddedMongo() as mongo:
        with System(vhost.amqp_uri, mongo.uri, processes=args.processes, gateways=args.gateways) as system:
            tokens = open_surveys(system, args.surveys)
            print(f"burst: {len(tokens)} open surveys, {args.connections} phones at once, {args.seconds} s", flush=True)
            result = burst(system, mongo, tokens, args.connections, args.seconds)
            rss = system.peak_rss()
        rss["database"] = mongo.peak_rss_mib()
    print(
        f"  accepted {result['accepted_per_s']}/s, p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, "
        f"all stored {result['all_stored_after_s']} s after, lost {result['lost']}",
        flush=True,
    )
    report = {
        "benchmark": "intake",
        "when": dt.datetime.now(CN).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count()},
        "settings": vars(args) | {"out": None},
        "ceiling_hello": hello,
        "burst": result,
        "ratio_to_hello": round(result["accepted_per_s"] / hello["requests_per_s"], 3)
        if hello["requests_per_s"]
        else None,
        "target": {"accepted_per_s": 1000, "p99_ms": 100, "lost": 0},
        "met": result["accepted_per_s"] >= 1000 and result["p99_ms"] <= 100 and result["lost"] == 0,
        "peak_rss_mib": rss,
    }
    if args.out:
        pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        pathlib.Path(args.out).write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
        print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    main()
