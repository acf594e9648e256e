"""Random palaces planned by one, then by three dispatch processes competing for the same
volunteers over the real broker and database: no hard rule is ever broken in what they leave
in the database (overlap and rest gap, availability, windows, weekly and monthly limits)."""

import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import time
import uuid
from urllib.parse import urlparse

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from nameko.standalone.rpc import ClusterRpcProxy
from pymongo import MongoClient

from common.config import nameko_config
from scripts.service import TARGETS
from tests.helpers import publish_event, wait_until
from tests.servers import ROOT, forget_databases

CST = dt.timezone(dt.timedelta(hours=8))
# a Monday far enough ahead that the whole week is in the future
MONDAY = dt.datetime.combine(dt.date.today() + dt.timedelta(days=14 - dt.date.today().weekday()), dt.time(0), CST)
SKILLS = ["声乐", "器乐", "主持"]


def at(day: int, hour: float) -> dt.datetime:
    return MONDAY + dt.timedelta(days=day, hours=hour)


@contextlib.contextmanager
def dispatch_processes(count: int, amqp_uri: str, mongo_uri: str, prefix: str):
    env = {**os.environ, "AMQP_URI": amqp_uri, "MONGO_URI": mongo_uri, "DB_PREFIX": prefix, "LOG_LEVEL": "WARNING"}
    os.makedirs(os.path.join(ROOT, "var", "log"), exist_ok=True)
    log = open(os.path.join(ROOT, "var", "log", f"competing-{prefix}.log"), "w")
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "nameko", "run", "--config", os.path.join(ROOT, "config.yml"), TARGETS["dispatch"]],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        for _ in range(count)
    ]
    try:
        yield procs
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        log.close()


@pytest.fixture(scope="module", params=[1, 3], ids=["one-process", "three-processes"])
def cluster(request, vhost_pipeline, mongo_uri):
    uri = urlparse(request.config.getoption("RABBIT_AMQP_URI"))
    prefix = f"c{uuid.uuid4().hex[:8]}_"
    with vhost_pipeline.get() as vhost:
        amqp_uri = f"{uri.scheme}://{uri.netloc}/{vhost}"
        with dispatch_processes(request.param, amqp_uri, mongo_uri, prefix) as procs:
            config = nameko_config(AMQP_URI=amqp_uri, MONGO_URI=mongo_uri, DB_PREFIX=prefix)
            with ClusterRpcProxy(config, timeout=30) as rpc:
                deadline = time.time() + 60
                while True:
                    assert all(p.poll() is None for p in procs), "a dispatch process exited"
                    try:
                        rpc.dispatch.ping()
                        break
                    except Exception:
                        assert time.time() < deadline
                        time.sleep(0.5)
                yield rpc.dispatch, config, MongoClient(mongo_uri, tz_aware=True)[f"{prefix}dispatch"]
    forget_databases(mongo_uri, prefix)


@st.composite
def palaces(draw):
    people = []
    for _ in range(draw(st.integers(2, 8))):
        days = draw(
            st.lists(st.tuples(st.integers(0, 4), st.integers(8, 16), st.integers(2, 6)), min_size=1, max_size=3)
        )
        people.append(
            {
                "skills": sorted(draw(st.sets(st.sampled_from(SKILLS), min_size=1, max_size=2))),
                "free": [(d, a, min(a + h, 22)) for d, a, h in days],
                "week": draw(st.none() | st.integers(1, 3)),
                "month": draw(st.none() | st.integers(2, 6)),
            }
        )
    orders = [
        (draw(st.integers(0, 4)), draw(st.integers(8, 18)), draw(st.integers(0, 2)), draw(st.sampled_from([0, 1])))
        for _ in range(draw(st.integers(2, 10)))
    ]
    rest = draw(st.sampled_from([0, 30, 60]))
    return people, orders, rest


def broken(db, palace_id: str, people: dict, rest: int) -> list[str]:
    live = list(db.offers.find({"palace_id": palace_id, "status": {"$in": ["pending", "accepted"]}}))
    errors = []
    by_vol: dict[str, list] = {}
    week: dict = {}
    month: dict = {}
    for o in live:
        vid, start, end = o["volunteer_id"], o["start"], o["end"]
        p = people[vid]
        if o["skill"] not in p["skills"]:
            errors.append(f"{vid} lacks {o['skill']}")
        if not any(w["start"] <= start and end <= w["end"] for w in p["availability"]):
            errors.append(f"{vid} not free {start}")
        for s2, e2 in by_vol.get(vid, []):
            if start < e2 + dt.timedelta(minutes=rest) and s2 < end + dt.timedelta(minutes=rest):
                errors.append(f"{vid} overlaps or rests too little")
        by_vol.setdefault(vid, []).append((start, end))
        wk = start.astimezone(CST).isocalendar()[:2]
        week[(vid, wk)] = week.get((vid, wk), 0) + 1
        if week[(vid, wk)] > (p.get("max_deliveries_per_week") or 3):
            errors.append(f"{vid} over the weekly limit")
        mk = (start.astimezone(CST).year, start.astimezone(CST).month)
        month[(vid, mk)] = month.get((vid, mk), 0) + (end - start).total_seconds() / 60
        if month[(vid, mk)] > 60 * (p.get("max_hours_per_month") or 40):
            errors.append(f"{vid} over the monthly hours")
    for plan in db.plans.find({"palace_id": palace_id}):
        crew = [o["volunteer_id"] for o in live if o["order_id"] == plan["_id"]]
        if len(crew) != len(set(crew)):
            errors.append(f"{plan['_id']} has someone twice")
        for o in live:
            if o["order_id"] == plan["_id"] and not any(
                w["start"] <= o["start"] and o["end"] <= w["end"] for w in plan["order"]["windows"]
            ):
                errors.append(f"{plan['_id']} outside its windows")
    return errors


BUSY_MONDAY = (
    [{"skills": ["主持", "声乐"], "free": [(0, 8, 22)], "week": None, "month": None} for _ in range(4)],
    [(0, 14, 1, 0) for _ in range(8)],
    60,
)


@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
@example(city=BUSY_MONDAY)
@given(city=palaces())
def test_competing_dispatch_processes_never_break_a_hard_rule(cluster, city):
    d, config, db = cluster
    people_in, orders, rest = city
    palace = f"p{uuid.uuid4().hex[:10]}"
    d.upsert_palace({"palace_id": palace, "name": "测试文化宫", "district": "海宁", "rules": {"rest_minutes": rest}})
    d.upsert_program(
        {
            "program_id": f"{palace}-show",
            "palace_id": palace,
            "title": "小型演出",
            "kind": "performance",
            "duration_minutes": 90,
            "needs": [{"skill": "声乐", "count": 1}, {"skill": "主持", "count": 1}],
        }
    )
    people = {}
    for n, p in enumerate(people_in):
        vid = f"{palace}-v{n}"
        record = {
            "volunteer_id": vid,
            "palace_id": palace,
            "name": f"志愿者{n}",
            "phone": "13900000000",
            "skills": p["skills"],
            "district": "海宁",
            "availability": [
                {"start": at(day, a).isoformat(), "end": at(day, b).isoformat()} for day, a, b in p["free"]
            ],
            "max_deliveries_per_week": p["week"],
            "max_hours_per_month": p["month"],
        }
        d.upsert_volunteer(record)
        people[vid] = d.get_volunteer(vid)
        for w in people[vid]["availability"]:
            w["start"], w["end"] = dt.datetime.fromisoformat(w["start"]), dt.datetime.fromisoformat(w["end"])
    ids = []
    for n, (day, hour, extra, _) in enumerate(orders):
        oid = f"{palace}-o{n}"
        ids.append(oid)
        publish_event(
            config,
            "orders",
            "order_accepted",
            order_id=oid,
            palace_id=palace,
            enterprise_id=f"e{n % 3}",
            program_id=f"{palace}-show",
            program_title="小型演出",
            site_address="厂区礼堂",
            district="海宁",
            audience_size=100,
            windows=[{"start": at(day, hour).isoformat(), "end": at(day, hour + 1.5 + extra).isoformat()}],
        )
    wait_until(lambda: db.plans.count_documents({"palace_id": palace}) == len(ids), timeout=60, what="every plan")
    # some volunteers decline at once, from every process: the next candidates are asked concurrently
    for n, (_, _, _, declines) in enumerate(orders):
        if declines:
            for o in db.offers.find({"order_id": ids[n], "status": "pending"}):
                with contextlib.suppress(Exception):
                    d.decline_offer(o["_id"], {"volunteer_id": o["volunteer_id"], "reason": "临时有事"})
    time.sleep(0.5)
    assert broken(db, palace, people, rest) == []
    for plan in db.plans.find({"palace_id": palace}):  # every order either has people asked or says why not
        asked = db.offers.count_documents({"order_id": plan["_id"], "status": {"$in": ["pending", "accepted"]}})
        assert (plan["status"] == "planning" and asked == 2) or (plan["status"] == "unfulfillable" and plan["reason"])
    if city is BUSY_MONDAY:  # four hosts who also sing, free all day: two afternoon shows fit at once
        assert db.plans.count_documents({"palace_id": palace, "status": "planning"}) == 2
