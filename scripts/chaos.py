"""Fault suite (`make chaos`; a shorter run is part of `make test`).

Drives a stream of orders through the whole flow over HTTP while service processes are killed
with SIGKILL at random moments and restarted, the broker is restarted (stop_app / start_app) and
the database server is killed and restarted; two orders, three dispatch and two feedback
processes run side by side. Then checks every order's end state, each effect exactly once, no
volunteer double-booked, no survey response lost or counted twice, and prints

    orders=N lost=0 duplicated=0 double_booked=0 dead_lettered=K

exiting non-zero unless lost, duplicated and double_booked are all zero.
Options: --orders N (default 30), --seed S, --kill-every SECONDS (default 4), --keep (leave data).
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid

import requests
from pymongo import MongoClient

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from common.clock import CN as CST  # noqa: E402
from scripts import demo_data  # noqa: E402
from scripts.run import embedded_mongo_command, embedded_mongo_uri  # noqa: E402
from scripts.service import TARGETS  # noqa: E402
from tests.servers import free_port, wait_for_mongo  # noqa: E402

PROCESSES = {
    "orders": 2,
    "dispatch": 3,
    "feedback": 2,
    "accounts": 1,
    "reporting": 1,
    "notifications": 1,
    "audit": 1,
    "gateway": 1,
}
FINAL = {"closed", "unfulfillable", "rejected", "cancelled"}


def say(message: str) -> None:
    print(f"[chaos] {message}", flush=True)


class System:
    """The embedded database and every service process, each of which can be killed."""

    def __init__(self, workdir: str, vhost: str):
        self.workdir = workdir
        self.mongo_port = free_port()
        self.port = free_port()
        self.mongo_uri = embedded_mongo_uri(self.mongo_port)
        self.amqp_uri = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
        self.env = {
            **os.environ,
            "PYTHONPATH": ROOT,
            "AMQP_URI": self.amqp_uri,
            "MONGO_URI": self.mongo_uri,
            "WEB_SERVER_ADDRESS": f"127.0.0.1:{self.port}",
            "LOG_LEVEL": "WARNING",
            "MONGO_TIMEOUT_MS": "30000",
            "DAY_CLOCK": "recorded",  # a delivery's day is played days ahead, with recorded times
        }
        self.procs: dict[tuple[str, int], subprocess.Popen] = {}
        self.mongo: subprocess.Popen | None = None
        self.lock = threading.Lock()
        self.log = open(os.path.join(workdir, "services.log"), "ab")

    def start_mongo(self) -> None:
        self.mongo = subprocess.Popen(
            embedded_mongo_command(self.mongo_port, os.path.join(self.workdir, "mongo"), "ERROR"),
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_for_mongo(self.mongo_uri, 60)

    def start(self, name: str, i: int) -> None:
        self.procs[(name, i)] = subprocess.Popen(
            [sys.executable, "-m", "nameko", "run", "--config", os.path.join(ROOT, "config.yml"), TARGETS[name]],
            cwd=ROOT,
            env={**self.env, "PROCESS_INDEX": str(i), "PROCESSES": str(PROCESSES[name])},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def start_all(self) -> None:
        self.start_mongo()
        for name, count in PROCESSES.items():
            for i in range(count):
                self.start(name, i)

    def kill(self, key: tuple[str, int]) -> None:
        with self.lock:
            proc = self.procs[key]
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            time.sleep(0.3)
            self.start(*key)

    def restart_mongo(self) -> None:
        with self.lock:
            self.mongo.send_signal(signal.SIGKILL)
            self.mongo.wait()
            time.sleep(0.5)
            self.start_mongo()

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        if self.mongo and self.mongo.poll() is None:
            self.mongo.terminate()
            self.mongo.wait(20)
        self.log.close()


def restart_broker() -> None:
    subprocess.run(["rabbitmqctl", "-q", "stop_app"], check=True, capture_output=True)
    time.sleep(1)
    subprocess.run(["rabbitmqctl", "-q", "start_app"], check=True, capture_output=True)
    subprocess.run(["rabbitmqctl", "-q", "await_startup"], capture_output=True)


class Client:
    """HTTP with patience: a fault is retried until the system answers (4xx are answers)."""

    def __init__(self, base: str, patience: float = 180):
        self.base = base
        self.patience = patience
        self.http = requests.Session()
        self.retries = 0
        self.tokens: dict[str, str] = {}

    def token(self, username: str) -> str:
        if username not in self.tokens:
            r = self.call(
                "POST", "/api/login", as_=None, json={"username": username, "password": demo_data.DEMO_PASSWORD}
            )
            assert r.status_code == 200, r.text
            self.tokens[username] = r.json()["token"]
        return self.tokens[username]

    def call(self, method: str, path: str, as_: str | None = "admin", **kw) -> requests.Response:
        deadline = time.time() + self.patience
        headers = kw.pop("headers", {})
        while True:
            if as_:
                headers["Authorization"] = f"Bearer {self.token(as_)}"
            try:
                r = self.http.request(method, self.base + path, timeout=30, headers=headers, **kw)
                if r.status_code < 500:
                    return r
            except requests.RequestException:
                pass
            if time.time() > deadline:
                raise SystemExit(f"{method} {path}: no answer for {self.patience}s")
            self.retries += 1
            time.sleep(0.5)


def chaos_monkey(
    system: System, stop: threading.Event, every: float, rng: random.Random, log: list, done: threading.Event
) -> None:
    """Kill a process, restart the broker, kill another, restart the database, then keep killing."""
    keys = sorted(system.procs)
    rng.shuffle(keys)
    step = kills = 0
    # each process in turn, at a random moment within each interval
    while not stop.wait(every * rng.uniform(0.5, 1.5)):
        step += 1
        if step == 5:
            done.set()  # the broker and the database have both been restarted under traffic
        if step == 2:
            say("restarting the broker")
            restart_broker()
            log.append("broker")
        elif step == 4:
            say("killing and restarting the database")
            system.restart_mongo()
            log.append("database")
        else:
            key = keys[kills % len(keys)]
            kills += 1
            say(f"SIGKILL {key[0]}#{key[1] + 1}")
            system.kill(key)
            log.append(f"{key[0]}#{key[1] + 1}")


def drive(api: Client, n: int, rng: random.Random, first: int = 0) -> dict:
    """Place n orders and take each as far as it can go; returns what was done."""
    enterprises = api.call("GET", "/api/enterprises").json()
    programs = collections.defaultdict(list)
    for p in api.call("GET", "/api/programs").json():
        programs[p["palace_id"]].append(p)
    today = dt.datetime.now(CST).date()
    orders = {}
    for i in range(first, first + n):
        ent = enterprises[i % len(enterprises)]
        program = programs[ent["palace_id"]][rng.randrange(len(programs[ent["palace_id"]]))]
        # from the third day on: past the palace's lead time (48 hours)
        start = dt.datetime.combine(today + dt.timedelta(days=3 + i % 20), dt.time(9 + (i % 3) * 4), CST)
        ref = f"chaos-{i}"
        r = api.call(
            "POST",
            "/api/orders",
            as_=ent["enterprise_id"],
            json={
                "enterprise_id": ent["enterprise_id"],
                "palace_id": ent["palace_id"],
                "program_id": program["program_id"],
                "site_address": ent["name"],
                "district": ent["district"],
                "audience_size": 100 + i,
                "windows": [{"start": start.isoformat(), "end": (start + dt.timedelta(hours=4)).isoformat()}],
                "contact_name": "工会干事",
                "contact_phone": "0573-87000000",
                "client_ref": ref,
            },
        )
        assert r.status_code == 201, r.text
        orders[r.json()["order_id"]] = {"ref": ref, "expect": None, "responses": set(), "by": ent["enterprise_id"]}
    ids = list(orders)
    rejected, cancelled = ids[0], ids[1]
    r = api.call("POST", f"/api/orders/{rejected}/reject", json={"reason": "场地检修"})
    assert r.status_code in (200, 409), r.text
    r = api.call("POST", f"/api/orders/{cancelled}/cancel", as_=orders[cancelled]["by"], json={"reason": "改期"})
    assert r.status_code in (200, 409), r.text
    orders[rejected]["expect"] = {"rejected"}
    orders[cancelled]["expect"] = {"cancelled"}
    for oid in ids[2:]:
        r = api.call("POST", f"/api/orders/{oid}/accept", json={})
        assert r.status_code in (200, 409), r.text
        orders[oid]["expect"] = {"closed", "unfulfillable"}

    pending = set(ids[2:])
    deadline = time.time() + 600
    while pending and time.time() < deadline:
        for oid in sorted(pending):
            order = api.call("GET", f"/api/orders/{oid}").json()
            if order["status"] in FINAL:
                pending.discard(oid)
                continue
            plan_r = api.call("GET", f"/api/orders/{oid}/plan")
            if plan_r.status_code != 200:
                continue
            plan = plan_r.json()
            if plan["status"] == "planning":
                for offer in plan["offers"]:
                    if offer["status"] == "pending":
                        verb = "decline" if rng.random() < 0.1 else "accept"
                        api.call(
                            "POST",
                            f"/api/offers/{offer['offer_id']}/{verb}",
                            as_=offer["volunteer_id"],
                            json={},
                        )
            elif plan["status"] == "scheduled" and order["status"] == "scheduled":
                for member in plan["crew"]:
                    body = {"volunteer_id": member["volunteer_id"]}
                    api.call("POST", f"/api/orders/{oid}/check-in", json={**body, "at": plan["start"]})
                    api.call("POST", f"/api/orders/{oid}/check-out", json={**body, "at": plan["end"]})
                api.call(
                    "POST",
                    f"/api/orders/{oid}/complete",
                    json={"people_served": order["audience_size"], "at": plan["end"]},
                )
            elif order["status"] == "delivered":
                survey_r = api.call("GET", f"/api/orders/{oid}/survey")
                if survey_r.status_code != 200:
                    continue
                survey = survey_r.json()
                if survey["status"] == "open":
                    for k in range(3):
                        ref = f"{oid[-8:]}-{k}"
                        r = api.call(
                            "POST",
                            f"/api/surveys/{survey['token']}/responses",
                            as_=None,
                            json={"overall": 3 + k % 3, "client_ref": ref},
                            headers={"User-Agent": f"phone-{ref}"},  # one phone per audience member
                        )
                        if r.status_code == 202:
                            orders[oid]["responses"].add(ref)
                    api.call("POST", f"/api/orders/{oid}/survey/close")
        time.sleep(0.3)
    return orders


def wait_for_outboxes(mongo_uri: str, timeout: float) -> bool:
    client = MongoClient(mongo_uri)
    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            if all(client[db].outbox.count_documents({"published": False}) == 0 for db in TARGETS if db != "gateway"):
                return True
            time.sleep(1)
        return False
    finally:
        client.close()


def dead_letter_count(amqp_uri: str) -> int:
    from kombu import Connection

    from common.store import DEAD_LETTER_QUEUE

    with Connection(amqp_uri) as conn:
        try:
            _, count, _ = conn.default_channel.queue_declare(DEAD_LETTER_QUEUE, passive=True)
            return count
        except Exception:
            return 0


def verify(system: System, orders: dict) -> dict:
    client = MongoClient(system.mongo_uri, tz_aware=True)
    orders_db, dispatch_db, feedback_db = client.orders, client.dispatch, client.feedback
    lost = duplicated = double_booked = 0
    for oid, want in orders.items():
        doc = orders_db.orders.find_one({"_id": oid})
        if doc is None or doc["status"] not in (want["expect"] or set()):
            lost += 1
            say(f"order {oid} ended {doc and doc['status']!r}, expected {want['expect']}")
            continue
        if doc["status"] == "closed":
            survey = feedback_db.surveys.find_one({"order_id": oid})
            stored = feedback_db.responses.count_documents({"survey_id": survey["_id"]})
            sent = len(want["responses"])
            if not (stored == survey["count"] == doc["responses"] == sent):
                duplicated += abs(stored - sent) or 1
                say(f"order {oid}: sent {sent}, stored {stored}, counted {survey['count']}, order {doc['responses']}")
    duplicated += sum(
        max(0, n - 1)
        for n in collections.Counter(
            d["client_ref"] for d in orders_db.orders.find({"client_ref": {"$type": "string"}})
        ).values()
    )
    duplicated += sum(
        max(0, n - 1)
        for n in collections.Counter(d["order_id"] for d in feedback_db.surveys.find({}, {"order_id": 1})).values()
    )
    asked = collections.Counter((o["order_id"], o["volunteer_id"]) for o in dispatch_db.offers.find())
    duplicated += sum(n - 1 for n in asked.values() if n > 1)
    holding = collections.defaultdict(list)
    for offer in dispatch_db.offers.find({"status": {"$in": ["pending", "accepted"]}}):
        holding[offer["volunteer_id"]].append((offer["start"], offer["end"]))
    for spans in holding.values():
        spans.sort()
        double_booked += sum(1 for a, b in zip(spans, spans[1:], strict=False) if b[0] < a[1])
    unpublished = sum(db.outbox.count_documents({"published": False}) for db in (orders_db, dispatch_db, feedback_db))
    client.close()
    return {
        "orders": len(orders),
        "lost": lost,
        "duplicated": duplicated,
        "double_booked": double_booked,
        "dead_lettered": dead_letter_count(system.amqp_uri),
        "unpublished": unpublished,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kill-every", type=float, default=4.0)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    vhost = f"chaos-{uuid.uuid4().hex[:8]}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True, capture_output=True)
    subprocess.run(
        ["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
        check=True,
        capture_output=True,
    )
    workdir = os.path.join(ROOT, "var", vhost)
    os.makedirs(workdir, exist_ok=True)
    system = System(workdir, vhost)
    started = time.time()
    stop = threading.Event()
    faults: list[str] = []
    try:
        system.start_all()
        api = Client(f"http://127.0.0.1:{system.port}")
        wait_healthy(api)
        demo_data.load({"AMQP_URI": system.amqp_uri})
        say(f"system up: {', '.join(f'{k} x{v}' for k, v in PROCESSES.items())}; {args.orders} orders")
        faulted = threading.Event()
        monkey = threading.Thread(
            target=chaos_monkey, args=(system, stop, args.kill_every, rng, faults, faulted), daemon=True
        )
        monkey.start()
        orders = drive(api, args.orders, rng)
        while not faulted.is_set():  # keep orders flowing until every kind of fault has happened
            orders.update(drive(api, 4, rng, first=len(orders)))
        stop.set()
        monkey.join(120)
        # after the faults: a relay lease held by a killed process runs out (10 s) and the next
        # relay publishes what it left; every outbox must drain, or events were stranded
        drained = wait_for_outboxes(system.mongo_uri, timeout=45)
        result = verify(system, orders)
        if not drained:
            result["lost"] += result["unpublished"]
    finally:
        stop.set()
        system.stop()
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], capture_output=True)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    say(
        f"faults injected: {', '.join(faults) or 'none'}; client retries: {api.retries}; "
        f"{time.time() - started:.0f}s; unpublished outbox events: {result.pop('unpublished')}"
    )
    print(" ".join(f"{k}={v}" for k, v in result.items()), flush=True)
    ok = result["lost"] == result["duplicated"] == result["double_booked"] == 0
    return 0 if ok else 1


def wait_healthy(api: Client, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if api.http.get(api.base + "/healthz", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise SystemExit("the system did not become healthy")


if __name__ == "__main__":
    raise SystemExit(main())
