"""make bench-reporting: the dashboard's questions at 10 k, 100 k and 1 M feedback responses.

Loads 100,000 orders (placed, accepted, offered, scheduled, delivered) and 1,000,000 responses in
three stages (1 %, 10 %, 100 %) through the reporting service's own projector into the embedded
database, and after each stage times every dashboard question (p50/p95, in ms), next to a plain
single-document read on the same database in the same run (the raw floor). The projections are
written in batches (a rebuild writes them the same way); the event archive's write rate is
measured on a sample, since writing 1.6 M archive documents measures the database, not the
dashboard. Writes bench/results/reporting.json.

Usage: python -m bench.reporting [--orders 100000] [--responses 1000000] [--repeat 30] [--seed 7]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import pathlib
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from pymongo import MongoClient
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.system import peak_rss_mib as rss_mib  # noqa: E402
from scripts.run import embedded_mongo_command, embedded_mongo_uri  # noqa: E402
from services.reporting import handlers, repository  # noqa: E402
from tests.servers import free_port, wait_for_mongo  # noqa: E402

RESULTS = ROOT / "bench" / "results"
from common.clock import CN  # noqa: E402

PALACES = ["haining", "qingdao"]
BATCH = 40_000


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


class City:
    """A province's year: palaces, districts, programs, troupes, enterprises, volunteers."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.districts = {p: [f"{p}-区{i:02d}" for i in range(20)] for p in PALACES}
        self.programs = {p: [f"{p}-节目{i:02d}" for i in range(30)] for p in PALACES}
        self.troupes = {p: [f"{p}-团{i:03d}" for i in range(150)] for p in PALACES}
        self.enterprises = {p: [f"{p}-企业{i:03d}" for i in range(250)] for p in PALACES}
        self.volunteers = {p: [f"{p}-v{i:04d}" for i in range(1000)] for p in PALACES}
        self.start = dt.datetime(2026, 1, 1, tzinfo=CN)
        self.wanted = ["八段锦", "书法", "电影", "合唱", "剪纸", "太极", "戏曲", "摄影", "朗诵", "舞蹈"]
        self.n = 0

    def order(self) -> tuple[list[dict], str, str]:
        rng = self.rng
        self.n += 1
        oid = f"o{self.n}"
        palace = rng.choice(PALACES)
        placed = self.start + dt.timedelta(minutes=rng.randrange(0, 365 * 24 * 60 - 5 * 24 * 60))
        program = rng.choice(self.programs[palace])
        snap = {
            "order_id": oid,
            "palace_id": palace,
            "enterprise_id": rng.choice(self.enterprises[palace]),
            "program_id": program,
            "program_title": program,
            "district": rng.choice(self.districts[palace]),
            "site_address": "x",
            "audience_size": 100,
            "windows": [],
        }
        events = [{**snap, "event_type": "order_placed", "occurred_at": placed, "event_id": f"{oid}-p"}]
        if rng.random() < 0.05:
            events.append(
                {
                    **snap,
                    "event_type": "order_rejected",
                    "reason": "满了",
                    "occurred_at": placed + dt.timedelta(hours=2),
                    "event_id": f"{oid}-r",
                }
            )
            return events, oid, palace
        accepted = placed + dt.timedelta(hours=rng.uniform(0.5, 8))
        events.append({**snap, "event_type": "order_accepted", "occurred_at": accepted, "event_id": f"{oid}-a"})
        crew = rng.sample(self.volunteers[palace], rng.randint(1, 4))
        for n, vid in enumerate(crew):
            events.append(
                {
                    "event_type": "offer_made",
                    "order_id": oid,
                    "palace_id": palace,
                    "volunteer_id": vid,
                    "skill": "s",
                    "occurred_at": accepted,
                    "event_id": f"{oid}-m{n}",
                }
            )
        start = accepted + dt.timedelta(days=rng.uniform(1, 4))
        events.append(
            {
                "event_type": "order_scheduled",
                "order_id": oid,
                "palace_id": palace,
                "troupe_id": rng.choice(self.troupes[palace]),
                "start": start,
                "end": start + dt.timedelta(hours=2),
                "crew": [],
                "occurred_at": accepted + dt.timedelta(hours=1),
                "event_id": f"{oid}-s",
            }
        )
        events.append(
            {
                "event_type": "delivery_completed",
                "order_id": oid,
                "palace_id": palace,
                "enterprise_id": snap["enterprise_id"],
                "program_id": program,
                "program_title": program,
                "troupe_id": events[-1]["troupe_id"],
                "district": snap["district"],
                "start": start,
                "end": start + dt.timedelta(hours=2),
                "people_served": rng.randint(20, 400),
                "completed_at": start + dt.timedelta(hours=2),
                "occurred_at": start + dt.timedelta(hours=2),
                "volunteers": [{"volunteer_id": v, "hours": 2.0, "granted_hours": 0.0} for v in crew],
                "event_id": f"{oid}-d",
            }
        )
        return events, oid, palace

    def responses(self, delivery: dict, count: int) -> list[dict]:
        rng = self.rng
        out = []
        for n in range(count):
            out.append(
                {
                    "event_type": "response_received",
                    "order_id": delivery["order_id"],
                    "palace_id": delivery["palace_id"],
                    "survey_id": "s",
                    "response_id": f"{delivery['order_id']}-q{n}",
                    "overall": rng.choice([3, 4, 4, 5, 5, 5]),
                    "content": rng.choice([None, 4, 5]),
                    "performers": rng.choice([None, 4, 5]),
                    "organisation": rng.choice([None, 3, 4, 5]),
                    "comment": "很好，希望常来。" if rng.random() < 0.03 else None,
                    "wanted_programs": rng.sample(self.wanted, rng.randint(0, 2)),
                    "occurred_at": delivery["completed_at"] + dt.timedelta(minutes=rng.randint(1, 120)),
                    "event_id": f"{delivery['order_id']}-q{n}",
                }
            )
        return out


def load_stage(db, city: City, orders: int, responses: int, progress, task) -> int:
    """Orders and their responses, projected in batches (oldest first within each batch)."""
    pending: list[dict] = []
    written = 0
    per_order = responses / orders
    carry = 0.0

    def flush():
        nonlocal pending, written
        pending.sort(key=lambda e: (e["occurred_at"], e["event_id"]))
        handlers.project_events(db, pending)
        written += len(pending)
        progress.advance(task, sum(1 for e in pending if e["event_type"] == "response_received"))
        pending = []

    made = 0
    while made < responses:
        events, _, _ = city.order()
        pending += events
        delivered = [e for e in events if e["event_type"] == "delivery_completed"]
        if delivered:
            carry += per_order / 0.95
            count = min(int(carry), responses - made)
            carry -= count
            pending += city.responses(delivered[0], count)
            made += count
        if len(pending) >= BATCH:
            flush()
    flush()
    return written


def archive_rate(db, city: City, sample: int) -> float:
    events = []
    while len(events) < sample:
        evs, _, _ = city.order()
        events += evs
    started = time.perf_counter()
    db.events.insert_many(
        [
            {
                "_id": "bench-" + e["event_id"],
                "source": "x",
                "type": e["event_type"],
                "occurred_at": e["occurred_at"],
                "payload": {k: str(v) for k, v in e.items()},
            }
            for e in events[:sample]
        ],
        ordered=False,
    )
    return round(sample / (time.perf_counter() - started), 1)


def time_queries(db, repeat: int, rng: random.Random) -> dict:
    now = dt.datetime(2027, 1, 15, tzinfo=CN)
    questions = {
        "dashboard_year": lambda p: handlers.dashboard(db, p, "2026-01", "2026-12"),
        "dashboard_month": lambda p: (lambda m: handlers.dashboard(db, p, m, m))(f"2026-{rng.randint(1, 12):02d}"),
        "dashboard_quarter": lambda p: handlers.dashboard(db, p, "2026-04", "2026-06"),
        "dashboard_all_palaces": lambda p: handlers.dashboard(db, "*", "2026-01", "2026-12"),
        "volunteer_leaderboard": lambda p: handlers.volunteers(db, p, "2026-01", "2026-12", 50),
        "coverage_3_months": lambda p: handlers.coverage(db, p, 3, now),
        "comments": lambda p: handlers.comments(db, p, 50),
    }
    out = {}
    every = []
    for name, ask in questions.items():
        times = []
        for _ in range(repeat):
            palace = rng.choice(PALACES)
            started = time.perf_counter()
            ask(palace)
            times.append((time.perf_counter() - started) * 1000)
        every += times
        out[name] = {"p50_ms": round(statistics.median(times), 2), "p95_ms": round(percentile(times, 0.95), 2)}
    raw = []
    for _ in range(repeat * 3):
        started = time.perf_counter()
        db.facts.find_one({"_id": f"haining|2026-0{rng.randint(1, 9)}|all|*"})
        raw.append((time.perf_counter() - started) * 1000)
    out["all_questions"] = {"p50_ms": round(statistics.median(every), 2), "p95_ms": round(percentile(every, 0.95), 2)}
    out["raw_find_one_by_id"] = {"p50_ms": round(statistics.median(raw), 3), "p95_ms": round(percentile(raw, 0.95), 3)}
    out["p95_over_raw_p50"] = round(out["all_questions"]["p95_ms"] / max(out["raw_find_one_by_id"]["p50_ms"], 1e-6), 1)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", default=str(RESULTS / "reporting.json"))
    args = parser.parse_args(argv)
    data = tempfile.mkdtemp(prefix="bench-reporting-")
    port = free_port()
    server = subprocess.Popen(
        embedded_mongo_command(str(port), data, "WARNING"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    uri = embedded_mongo_uri(port)
    try:
        wait_for_mongo(uri)
        db = MongoClient(uri, tz_aware=True).bench_reporting
        repository.ensure_indexes(db)
        city = City(args.seed)
        rng = random.Random(args.seed)
        stages = [
            (max(1, args.orders // 100), args.responses // 100),
            (args.orders // 10, args.responses // 10),
            (args.orders, args.responses),
        ]
        results = {"orders": args.orders, "responses": args.responses, "stages": []}
        loaded_orders = loaded_responses = 0
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:,}/{task.total:,}"),
            TimeElapsedColumn(),
        ) as progress:
            task = progress.add_task("responses projected", total=args.responses)
            for orders, responses in stages:
                started = time.perf_counter()
                events = load_stage(db, city, orders - loaded_orders, responses - loaded_responses, progress, task)
                load_s = time.perf_counter() - started
                loaded_orders, loaded_responses = city.n, responses
                queries = time_queries(db, args.repeat, rng)
                results["stages"].append(
                    {
                        "responses": responses,
                        "orders": loaded_orders,
                        "events_projected": events,
                        "load_seconds": round(load_s, 1),
                        "events_per_s": round(events / load_s, 1),
                        "fact_rows": db.facts.estimated_document_count(),
                        "volunteer_rows": db.volunteer_months.estimated_document_count(),
                        "queries": queries,
                    }
                )
                progress.console.print(
                    f"{responses:>9,} responses: p95 {queries['all_questions']['p95_ms']} ms "
                    f"(raw read p50 {queries['raw_find_one_by_id']['p50_ms']} ms)"
                )
        results["archive_writes_per_s"] = archive_rate(db, city, 20_000)
        p95 = [s["queries"]["all_questions"]["p95_ms"] for s in results["stages"]]
        results["p95_at_1m_ms"] = p95[-1]
        results["target_p95_ms"] = 200
        results["target_met"] = p95[-1] <= 200
        results["growth_p95_1m_over_10k"] = round(p95[-1] / p95[0], 2)
        results["peak_rss_mib"] = {
            "bench": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "database": rss_mib(server.pid),
        }
        results["machine"] = {"cpus": os.cpu_count(), "database": "SecantusDB (embedded)"}
        pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        pathlib.Path(args.out).write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n")
        print(json.dumps({k: v for k, v in results.items() if k != "stages"}, ensure_ascii=False))
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(data, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
