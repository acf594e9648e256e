"""make bench-pipeline: orders carried from placement to closed through every service, against
what the broker and the database themselves can do on this machine in the same run.

Each order goes the way people drive it through the gateway's HTTP API: the enterprise union
places it, the dispatcher accepts it, dispatch plans and offers the roles, each volunteer
accepts their offer (reacting to `offer_made`, as a phone would to a push), the dispatcher
completes the delivery once `order_scheduled` arrives, three audience members answer the
survey and the dispatcher closes it; the order counts when `orders.order_closed` is seen.

In the same run, the raw limits: kombu publishing and consuming persistent messages (with
publisher confirms, as the services publish) on the same broker, and single-document inserts
on the same database. Broker messages and database writes per order are counted (queue
publish counters from the management API, `serverStatus` opcounters), so

    limit_orders_per_s = min(raw messages/s / messages per order, raw writes/s / writes per order)
    ratio              = measured orders/s / limit_orders_per_s

With --growth K the databases are then grown K-fold (volunteers, troupes and every order's
history copied with new ids) and the same orders are carried again: cost per order must not
grow with the data. Writes bench/results/pipeline.json.

Usage: python -m bench.pipeline [--orders 80] [--processes 1 2 4] [--growth 10] [--in-flight 40]
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import datetime as dt
import json
import os
import pathlib
import re
import resource
import secrets
import statistics
import sys
import threading
import time
import uuid

import requests
from kombu import Connection, Exchange, Queue
from nameko.standalone.rpc import ClusterRpcProxy
from pymongo import MongoClient
from pymongo.errors import BulkWriteError

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.system import OPS, EmbeddedMongo, System, Vhost, broker_cpu_seconds, ensure_rabbit  # noqa: E402
from contracts.base import new_id  # noqa: E402

RESULTS = ROOT / "bench" / "results"
from common.clock import CN  # noqa: E402
from common.config import setting  # noqa: E402

PASSWORD = "bench-password-1"
SLOTS = (9, 13, 17)  # three deliveries a day, two hours each, a rest gap between
DAYS = 120  # volunteers are free every day this far ahead
PALACE = "haining"
ENTERPRISE = "jingbian"
SOURCES = ("orders", "dispatch", "feedback")


def log(message: str) -> None:
    print(message, flush=True)


# ------------------------------------------------------------------ raw limits


def raw_broker(amqp_uri: str, messages: int = 4000, publishers: int = 4) -> dict:
    """Persistent messages published (confirmed, like nameko's publishers) and consumed (acked)
    through one durable queue; messages/s from the first publish to the last ack."""
    name = f"raw-{uuid.uuid4().hex[:6]}"
    exchange = Exchange(name, type="direct", durable=True)
    queue = Queue(name, exchange, routing_key=name, durable=True)
    body = json.dumps({"order_id": new_id(), "payload": "x" * 400})
    with Connection(amqp_uri) as conn:
        queue(conn.channel()).declare()
    got = 0
    done = threading.Event()

    def consume():
        nonlocal got
        with Connection(amqp_uri) as conn:

            def on_message(_body, message):
                nonlocal got
                message.ack()
                got += 1
                if got >= messages:
                    done.set()

            with conn.Consumer(queue, callbacks=[on_message], prefetch_count=200):
                while not done.is_set():
                    try:
                        conn.drain_events(timeout=1)
                    except TimeoutError:
                        pass

    def publish(count: int):
        with Connection(amqp_uri, transport_options={"confirm_publish": True}) as conn:
            producer = conn.Producer()
            for _ in range(count):
                producer.publish(
                    body, exchange=exchange, routing_key=name, delivery_mode=2, content_type="application/json"
                )

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    time.sleep(0.3)
    started = time.perf_counter()
    each = messages // publishers
    with cf.ThreadPoolExecutor(publishers) as pool:
        list(pool.map(publish, [each] * (publishers - 1) + [messages - each * (publishers - 1)]))
    done.wait(120)
    seconds = time.perf_counter() - started
    with Connection(amqp_uri) as conn:
        queue(conn.channel()).delete()
    return {
        "messages": got,
        "seconds": round(seconds, 2),
        "messages_per_s": round(got / seconds, 1),
        "publishers": publishers,
    }


def raw_database(mongo_uri: str, seconds: float = 6.0, writers: int = 4) -> dict:
    """Single-document inserts from `writers` threads on the same server, for `seconds`."""
    client = MongoClient(mongo_uri)
    coll = client[f"raw{uuid.uuid4().hex[:6]}"].docs
    coll.insert_one({"warm": True})
    counts = [0] * writers
    stop_at = time.perf_counter() + seconds

    def write(i: int):
        while time.perf_counter() < stop_at:
            coll.insert_one({"order_id": new_id(), "status": "placed", "at": dt.datetime.now(CN), "n": counts[i]})
            counts[i] += 1

    started = time.perf_counter()
    with cf.ThreadPoolExecutor(writers) as pool:
        list(pool.map(write, range(writers)))
    took = time.perf_counter() - started
    client.drop_database(coll.database.name)
    client.close()
    return {
        "writes": sum(counts),
        "seconds": round(took, 2),
        "writes_per_s": round(sum(counts) / took, 1),
        "writers": writers,
    }


# ------------------------------------------------------------------ data


def day_windows(first: dt.date, days: int) -> list[dict]:
    out = []
    for d in range(days):
        day = first + dt.timedelta(days=d)
        out.append(
            {
                "start": dt.datetime.combine(day, dt.time(8), CN).isoformat(),
                "end": dt.datetime.combine(day, dt.time(21), CN).isoformat(),
            }
        )
    return out


def order_window(first: dt.date, n: int) -> dict:
    day = first + dt.timedelta(days=n // len(SLOTS))
    start = dt.datetime.combine(day, dt.time(SLOTS[n % len(SLOTS)]), CN)
    return {"start": start.isoformat(), "end": (start + dt.timedelta(hours=2)).isoformat()}


class People:
    """Sign-ins for the enterprise clerk, the dispatcher and every volunteer."""

    def __init__(self, base: str):
        self.base = base
        self.tokens: dict[str, str] = {}
        self.volunteer_tokens: dict[str, str] = {}

    def login(self, username: str) -> str:
        # a sign-in while the machine's other work slows the accounts service past the gateway's
        # deadline is a 503: tried again, as the driver's calls are
        for attempt in range(5):
            r = requests.post(f"{self.base}/api/login", json={"username": username, "password": PASSWORD}, timeout=60)
            if r.status_code not in (429, 502, 503, 504) or attempt == 4:
                break
            time.sleep(0.5 * (attempt + 1))
        r.raise_for_status()
        return r.json()["token"]


def palace_ids(palaces: int) -> list[str]:
    return [PALACE] + [f"{PALACE}-{k + 1}" for k in range(palaces - 1)]


def seed(system: System, first: dt.date, singers: int, players: int, troupes: int, palaces: int = 1) -> People:
    """``palaces`` palaces, each with one program needing a singer and a player, its own
    volunteers free every day, an enterprise union and a dispatcher."""
    free = day_windows(first, DAYS)
    people = People(system.base)
    with ClusterRpcProxy(system.config, timeout=120) as rpc:
        for k, palace in enumerate(palace_ids(palaces)):
            suffix = "" if k == 0 else f"-{k + 1}"
            KEEP.update({palace, f"{ENTERPRISE}{suffix}", f"song{suffix}"})
            volunteers = [(new_id(), "声乐") for _ in range(singers)] + [(new_id(), "器乐") for _ in range(players)]
            troupe_ids = [new_id() for _ in range(troupes)]
            rpc.dispatch.upsert_palace({"palace_id": palace, "name": f"海宁市工人文化宫{suffix}", "district": "海宁"})
            rpc.dispatch.upsert_program(
                {
                    "program_id": f"song{suffix}",
                    "palace_id": palace,
                    "title": "劳动者之歌 文艺演出",
                    "kind": "performance",
                    "duration_minutes": 120,
                    "needs": [{"skill": "声乐", "count": 1}, {"skill": "器乐", "count": 1}],
                }
            )
            add_volunteers(rpc, volunteers, troupe_ids, free, palace, f"song{suffix}")
            rpc.orders.register_enterprise(
                {
                    "enterprise_id": f"{ENTERPRISE}{suffix}",
                    "palace_id": palace,
                    "name": f"海宁经编产业园联合工会{suffix}",
                    "district": "海宁",
                }
            )
            rpc.accounts.create_user(
                {
                    "username": f"union{suffix}",
                    "password": PASSWORD,
                    "role": "enterprise",
                    "palace_id": palace,
                    "enterprise_id": f"{ENTERPRISE}{suffix}",
                }
            )
            rpc.accounts.create_user(
                {"username": f"dispatcher{suffix}", "password": PASSWORD, "role": "dispatcher", "palace_id": palace}
            )
            add_accounts(rpc, [v for v, _ in volunteers], palace)
            people.tokens[f"union{suffix}"] = people.login(f"union{suffix}")
            people.tokens[f"dispatcher{suffix}"] = people.login(f"dispatcher{suffix}")
            login_volunteers(people, [v for v, _ in volunteers])
    return people


def add_volunteers(
    rpc, volunteers: list[tuple[str, str]], troupe_ids: list[str], free: list[dict], palace=PALACE, program="song"
) -> None:
    for i, (vid, skill) in enumerate(volunteers):
        rpc.dispatch.upsert_volunteer(
            {
                "volunteer_id": vid,
                "palace_id": palace,
                "name": f"志愿者{i + 1}",
                "phone": "13900000000",
                "skills": [skill],
                "district": "海宁",
                "troupe_ids": [troupe_ids[i % len(troupe_ids)]],
                "availability": free,
            }
        )
    for t, tid in enumerate(troupe_ids):
        members = [v for i, (v, _) in enumerate(volunteers) if i % len(troupe_ids) == t]
        rpc.dispatch.upsert_troupe(
            {
                "troupe_id": tid,
                "palace_id": palace,
                "name": f"职工艺术团{t + 1}",
                "district": "海宁",
                "members": members,
                "repertoire": [program],
            }
        )


def add_accounts(rpc, volunteer_ids: list[str], palace: str = PALACE) -> None:
    for vid in volunteer_ids:
        rpc.accounts.create_user(
            {
                "username": f"v-{vid}",
                "password": PASSWORD,
                "role": "volunteer",
                "palace_id": palace,
                "volunteer_id": vid,
            }
        )


def login_volunteers(people: People, volunteer_ids: list[str]) -> None:
    with cf.ThreadPoolExecutor(4) as pool:
        for vid, token in zip(volunteer_ids, pool.map(lambda v: people.login(f"v-{v}"), volunteer_ids), strict=True):
            people.volunteer_tokens[vid] = token


# ------------------------------------------------------------------ growth


HEX_ID = re.compile(r"[0-9a-f]{32}")
TOKEN = re.compile(r"[A-Za-z0-9_-]{22,44}")
KEEP = {PALACE, ENTERPRISE, "song"}  # and every other palace's (seed adds them)
SKIP = {"outbox", "directory"}  # copied events would be published again; directory versions move instead


class Remap:
    """One copy's new ids: the same old id gets the same new id in every collection."""

    def __init__(self):
        self.mapping: dict[str, str] = {}

    def _new(self, old: str) -> str:
        if old not in self.mapping:
            fresh = new_id() if HEX_ID.fullmatch(old) else secrets.token_urlsafe(max(16, len(old) * 3 // 4))
            self.mapping[old] = fresh
        return self.mapping[old]

    def __call__(self, value):
        if isinstance(value, str):
            if value in KEEP:
                return value
            if TOKEN.fullmatch(value) and not HEX_ID.fullmatch(value):
                return self._new(value)
            # ids alone or inside keys such as "<volunteer>:<bucket>" or "dispatch:<event>"
            return HEX_ID.sub(lambda m: self._new(m.group(0)), value)
        if isinstance(value, dict):
            return {self(key) if isinstance(key, str) else key: self(v) for key, v in value.items()}
        if isinstance(value, list):
            return [self(v) for v in value]
        return value


def grow(mongo_uri: str, prefix: str, factor: int) -> dict:
    """Copy every service's documents factor-1 times with fresh ids (orders, plans, offers,
    bookings, surveys, answers, volunteers, troupes, processed events...), so the volunteers,
    troupes and history are factor times what they were. Accounts are not copied (their keys
    are secrets); the copied volunteers get accounts of their own. Documents a unique key
    other than an id keeps from being copied (per-palace counters) are left single."""
    client = MongoClient(mongo_uri, tz_aware=True)
    copied: dict[str, int] = {}
    new_volunteers: list[str] = []
    dbs = [n for n in client.list_database_names() if n.startswith(prefix) and not n.endswith("accounts")]
    copies = [Remap() for _ in range(1, factor)]  # one id mapping per copy, across collections
    for name in dbs:
        db = client[name]
        for coll in db.list_collection_names():
            if coll in SKIP:
                continue
            originals = list(db[coll].find({}))
            for remap in copies if originals else []:
                docs = [remap(d) for d in originals]
                for d in docs:
                    if not isinstance(d.get("_id"), str):
                        d.pop("_id", None)
                try:
                    n = len(db[coll].insert_many(docs, ordered=False).inserted_ids)
                except BulkWriteError as err:
                    n = err.details.get("nInserted", 0)
                key = f"{name.removeprefix(prefix)}.{coll}"
                copied[key] = copied.get(key, 0) + n
                if coll == "volunteers" and name.endswith("dispatch"):
                    new_volunteers += [(d.get("volunteer_id", d["_id"]), d.get("palace_id", PALACE)) for d in docs]
        if name.endswith("dispatch"):  # dispatch keeps its volunteers in memory until this moves
            db.directory.update_many({}, {"$inc": {"version": 1}})
    client.close()
    return {"copied": copied, "volunteers": new_volunteers}


# ------------------------------------------------------------------ the driver


class Driver:
    """Reacts to the flow's events as the people would, through the gateway."""

    def __init__(self, system: System, people: People, workers: int = 12):
        self.system = system
        self.people = people
        self.pool = cf.ThreadPoolExecutor(workers)
        self.local = threading.local()
        self.placed: dict[str, float] = {}
        self.closed: dict[str, float] = {}
        self.failed: dict[str, str] = {}
        self.errors: list[str] = []
        self.seen: set[str] = set()
        self.stages: dict[str, dict[str, float]] = {}  # order → event → when first seen
        self.suffix: dict[str, str] = {}  # order → its palace's suffix (union-2, dispatcher-2, …)
        self.lock = threading.Lock()
        self.slots: threading.Semaphore | None = None
        self.queue_name = f"bench-driver-{uuid.uuid4().hex[:6]}"
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.listener = threading.Thread(target=self._listen, daemon=True)
        self.listener.start()
        if not self.ready.wait(30):
            raise RuntimeError("the driver could not bind to the events")

    def _session(self) -> requests.Session:
        s = getattr(self.local, "s", None)
        if s is None:
            s = self.local.s = requests.Session()
        return s

    def call(self, method: str, path: str, token: str | None, ok=(200, 201, 202), **kw) -> dict:
        headers = kw.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        for attempt in range(5):
            r = self._session().request(method, self.system.base + path, headers=headers, timeout=60, **kw)
            if r.status_code in ok:
                return r.json() if r.content else {}
            if r.status_code in (429, 502, 503, 504) and attempt < 4:
                time.sleep(0.2 * (attempt + 1))
                continue
            raise RuntimeError(f"{method} {path}: {r.status_code} {r.text[:200]}")
        raise AssertionError("unreachable")

    # events → actions
    def _listen(self) -> None:
        with Connection(self.system.env["AMQP_URI"]) as conn:
            queue = Queue(self.queue_name, auto_delete=True, durable=False)
            channel = conn.channel()
            bound = queue(channel)
            bound.declare()
            for source in SOURCES:
                ex = Exchange(f"{source}.events", type="topic", durable=True)(channel)
                ex.declare()
                for key in (
                    "offer_made",
                    "order_scheduled",
                    "survey_opened",
                    "order_closed",
                    "order_unfulfillable",
                    "order_rejected",
                ):
                    bound.bind_to(exchange=ex, routing_key=key)
            self.ready.set()
            with conn.Consumer(bound, callbacks=[self._on_event], accept=["json"], prefetch_count=100):
                while not self.stop.is_set():
                    try:
                        conn.drain_events(timeout=0.5)
                    except TimeoutError:
                        pass

    def _on_event(self, body, message) -> None:
        message.ack()
        kind = message.delivery_info["routing_key"]
        payload = body if isinstance(body, dict) else json.loads(body)
        order_id = payload.get("order_id")
        if order_id not in self.placed:
            return
        with self.lock:  # events are delivered at least once: act on each once
            if payload.get("event_id") in self.seen:
                return
            self.seen.add(payload.get("event_id"))
            self.stages.setdefault(order_id, {}).setdefault(kind, time.perf_counter())
        if kind == "offer_made":
            self.pool.submit(self._guard, order_id, self._accept_offer, payload)
        elif kind == "order_scheduled":
            self.pool.submit(self._guard, order_id, self._complete, order_id, payload.get("end"))
        elif kind == "survey_opened":
            self.pool.submit(self._guard, order_id, self._answer_and_close, order_id)
        elif kind == "order_closed":
            self._finish(order_id, None)
        else:
            self._finish(order_id, f"{kind}: {payload.get('reason')}")

    def _guard(self, order_id: str, fn, *args) -> None:
        try:
            fn(*args)
        except Exception as err:  # noqa: BLE001 - a step that failed ends this order, not the run
            self._finish(order_id, str(err))

    def _finish(self, order_id: str, error: str | None) -> None:
        with self.lock:
            if order_id in self.closed or order_id in self.failed:
                return
            if error is None:
                self.closed[order_id] = time.perf_counter()
            else:
                self.failed[order_id] = error
        if self.slots:
            self.slots.release()

    def _accept_offer(self, offer: dict) -> None:
        token = self.people.volunteer_tokens.get(offer["volunteer_id"])
        if token is None:
            raise RuntimeError(f"no sign-in for volunteer {offer['volunteer_id']}")
        self.call("POST", f"/api/offers/{offer['offer_id']}/accept", token, json={})

    def _complete(self, order_id: str, end: str | None) -> None:
        # recorded at the slot's end, days ahead (the system runs with DAY_CLOCK=recorded); nobody
        # checks in here, so the dispatcher says why
        body = {"people_served": 280, "at": end, "reason": "压测：未签到"}
        dispatcher = self.people.tokens[self.dispatcher_of(order_id)]
        try:
            self.call("POST", f"/api/orders/{order_id}/complete", dispatcher, json=body)
        except RuntimeError as err:
            # a first try that timed out at the gateway may still have completed it: the retry
            # is then refused as no longer scheduled, and the order shows it delivered once the
            # orders service has heard of it (moments later under load)
            if "NOT_SCHEDULED" not in str(err):
                raise
            deadline = time.monotonic() + 60
            while self.call("GET", f"/api/orders/{order_id}", dispatcher).get("status") not in ("delivered", "closed"):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def _answer_and_close(self, order_id: str) -> None:
        dispatcher = self.people.tokens[self.dispatcher_of(order_id)]
        survey = self.call("GET", f"/api/orders/{order_id}/survey", dispatcher)
        for i, overall in enumerate((5, 4, 4)):
            self.call(
                "POST",
                f"/api/surveys/{survey['token']}/responses",
                None,
                json={"overall": overall, "performers": 5, "comment": "节目很精彩", "client_ref": f"{order_id}-{i}"},
                headers={"User-Agent": f"phone-{order_id}-{i}"},
            )
        self.call("POST", f"/api/orders/{order_id}/survey/close", dispatcher, json={})

    def dispatcher_of(self, order_id: str) -> str:
        return f"dispatcher{self.suffix.get(order_id, '')}"

    def place(self, item) -> None:
        k, window = item if isinstance(item, tuple) else (0, item)
        suffix = "" if k == 0 else f"-{k + 1}"
        order = self.call(
            "POST",
            "/api/orders",
            self.people.tokens[f"union{suffix}"],
            json={
                "enterprise_id": f"{ENTERPRISE}{suffix}",
                "palace_id": palace_ids(k + 1)[k],
                "program_id": f"song{suffix}",
                "site_address": "经编园区 3 号厂房",
                "district": "海宁",
                "audience_size": 300,
                "windows": [window],
                "contact_name": "王芳",
                "contact_phone": "0573-87000000",
            },
        )
        order_id = order["order_id"]
        with self.lock:
            self.placed[order_id] = time.perf_counter()
            self.suffix[order_id] = suffix
        self.call(
            "POST", f"/api/orders/{order_id}/accept", self.people.tokens[f"dispatcher{suffix}"], json={"note": "安排"}
        )

    def run(self, windows: list[dict], in_flight: int, timeout: float) -> dict:
        self.slots = threading.Semaphore(in_flight)
        started = time.perf_counter()
        placer = cf.ThreadPoolExecutor(4)
        for window in windows:
            self.slots.acquire()
            placer.submit(self._place_guarded, window)
        placer.shutdown(wait=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if len(self.closed) + len(self.failed) >= len(self.placed):
                    break
            time.sleep(0.1)
        ended = max(self.closed.values(), default=started)
        latencies = sorted(self.closed[o] - self.placed[o] for o in self.closed)
        return {
            "orders": len(windows),
            "placed": len(self.placed),
            "closed": len(self.closed),
            "failed": len(self.failed),
            "failures": sorted(set(self.failed.values()))[:5] + self.errors[:5],
            "seconds": round(ended - started, 2),
            "orders_per_s": round(len(self.closed) / (ended - started), 2) if self.closed else 0.0,
            "latency_p50_s": round(statistics.median(latencies), 2) if latencies else None,
            "latency_p99_s": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 2)
            if latencies
            else None,
            "stage_p50_p90_s": self._stage_times(),
        }

    def _stage_times(self) -> dict[str, list[float]]:
        """Median and 90th percentile seconds of each leg of a closed order: placed → first offer → scheduled → survey
        opened → closed (where an order waits, when the figure above is low)."""
        legs = ("offer_made", "order_scheduled", "survey_opened", "order_closed")
        spans: dict[str, list[float]] = {}
        for order_id, done in self.closed.items():
            seen = {**self.stages.get(order_id, {}), "order_closed": done}
            before, at = "placed", self.placed[order_id]
            for leg in legs:
                if leg in seen:
                    spans.setdefault(f"{before}→{leg}", []).append(seen[leg] - at)
                    before, at = leg, seen[leg]
        return {
            leg: [round(statistics.median(v), 2), round(sorted(v)[int(len(v) * 0.9)], 2)] for leg, v in spans.items()
        }

    def _place_guarded(self, window) -> None:
        try:
            self.place(window)
        except Exception as err:  # noqa: BLE001
            self.errors.append(str(err))
            self.slots.release()

    def close(self) -> None:
        self.stop.set()
        self.listener.join(5)
        self.pool.shutdown(wait=False, cancel_futures=True)


# the broker the run uses: the machine's (None) or a cluster of its own (--cluster)
CLUSTER = {"cluster": None}


def broker_cpu() -> float:
    cluster = CLUSTER["cluster"]
    return sum(cluster.cpu_seconds().values()) if cluster else broker_cpu_seconds()


def broker_nodes_cpu() -> dict[str, float]:
    cluster = CLUSTER["cluster"]
    return cluster.cpu_seconds() if cluster else {"rabbit@localhost": broker_cpu_seconds()}


def new_vhost(prefix: str = "bench") -> Vhost:
    cluster = CLUSTER["cluster"]
    if cluster is None:
        return Vhost(prefix)
    return Vhost(
        prefix,
        management=f"http://127.0.0.1:{cluster.nodes[0].management_port}",
        hosts=[f"127.0.0.1:{node.amqp_port}" for node in cluster.nodes],
    )


def carry(system, people, vhost, mongo, windows, in_flight, timeout) -> dict:
    """Carry the orders through and count what the broker and the database did for them."""
    driver = Driver(system, people)
    try:
        time.sleep(1.0)  # queue counters settle after the sign-ins' calls
        messages_before, writes_before = vhost.published(exclude=driver.queue_name), mongo.writes()
        top_before = mongo.top(system.prefix)
        cpu_before = {
            **system.cpu_seconds(),
            "database": mongo.cpu_seconds(),
            "driver": own_cpu(),
            "broker": broker_cpu(),
        }
        nodes_before = broker_nodes_cpu()
        log_from = os.path.getsize(system.log_path) if os.path.exists(system.log_path) else 0
        result = driver.run(windows, in_flight, timeout)
        time.sleep(6.0)  # management counters refresh every 5 s
        messages = vhost.published(exclude=driver.queue_name) - messages_before
        writes = mongo.writes() - writes_before
        top = mongo.top(system.prefix)
        cpu = {
            **system.cpu_seconds(),
            "database": mongo.cpu_seconds(),
            "driver": own_cpu(),
            "broker": broker_cpu(),
        }
        nodes = broker_nodes_cpu()
    finally:
        driver.close()
    n = max(1, result["closed"])
    result["messages_per_order"] = round(messages / n, 1)
    result["writes_per_order"] = round(writes / n, 1)
    result["cpu_ms_per_order"] = {k: round((cpu[k] - cpu_before.get(k, 0.0)) * 1000 / n, 1) for k in cpu}
    result["cpu_ms_per_order"]["all"] = round(sum(result["cpu_ms_per_order"].values()), 1)
    # each broker node's processor time per order (the machine's one broker, or the cluster's three)
    result["broker_nodes_cpu_ms_per_order"] = {
        name: round((nodes[name] - nodes_before.get(name, 0.0)) * 1000 / n, 1) for name in nodes
    }
    # the services' processes alone: what more processes must not make grow
    result["cpu_ms_per_order"]["services"] = round(
        sum(v for k, v in result["cpu_ms_per_order"].items() if k not in ("database", "driver", "broker", "all")), 1
    )
    # what the machine's processors could carry at that processor time per order
    result["cpu_limit_orders_per_s"] = (
        round((os.cpu_count() or 1) * 1000 / result["cpu_ms_per_order"]["all"], 2)
        if result["cpu_ms_per_order"]["all"]
        else None
    )
    result["conflicts"] = conflicts(system.log_path, log_from, n)
    result["idle_writes_per_s"] = idle_writes_per_s(mongo)
    result["busiest_collections"] = busiest(top, top_before, n)
    return result


CONFLICTED = re.compile(r"transaction (\S+) ran (\d+) times \(write conflicts\)")


def conflicts(log_path: str, offset: int, orders: int) -> dict:
    """The transactions the services ran again and again on write conflicts during the run (the
    store logs each one run three times or more), per transaction: how many, and the runs beyond
    the first; a turn that several processes take at once shows here."""
    by: dict[str, list[int]] = {}
    try:
        with open(log_path, "rb") as f:
            f.seek(offset)
            text = f.read().decode("utf-8", "replace")
    except OSError:
        text = ""
    for name, runs in CONFLICTED.findall(text):
        row = by.setdefault(name, [0, 0])
        row[0] += 1
        row[1] += int(runs) - 1
    return {
        "transactions": sum(r[0] for r in by.values()),
        "extra_runs": sum(r[1] for r in by.values()),
        "extra_runs_per_order": round(sum(r[1] for r in by.values()) / orders, 2),
        "by_transaction": dict(sorted(by.items(), key=lambda kv: -kv[1][1])),
    }


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def idle_writes_per_s(mongo: EmbeddedMongo, seconds: float = 5.0) -> float:
    """Writes with no order under way (leases renewed, timers looking for work)."""
    before = mongo.writes()
    time.sleep(seconds)
    return round((mongo.writes() - before) / seconds, 1)


def busiest(top: dict, before: dict, orders: int, count: int = 40) -> list[dict]:
    """The collections the database spent most time on, per order: where the writes go."""
    rows = []
    for ns, t in top.items():
        b = before.get(ns, {"writes": 0, "reads": 0, "time_us": 0})
        rows.append(
            {
                "collection": ns,
                "writes_per_order": round((t["writes"] - b["writes"]) / orders, 1),
                "reads_per_order": round((t["reads"] - b["reads"]) / orders, 1),
                "ms_per_order": round((t["time_us"] - b["time_us"]) / orders / 1000, 2),
                "by_kind": {
                    op: [
                        round((t[f"{op}_count"] - b.get(f"{op}_count", 0)) / orders, 1),
                        round((t[f"{op}_us"] - b.get(f"{op}_us", 0)) / orders / 1000, 2),
                    ]
                    for op in OPS
                    if t[f"{op}_count"] - b.get(f"{op}_count", 0)
                },
            }
        )
    rows.sort(key=lambda r: -r["ms_per_order"])
    return rows[:count]


def limits(result: dict, raw: dict) -> None:
    by_broker = raw["broker_messages_per_s"] / max(result["messages_per_order"], 0.1)
    by_db = raw["database_writes_per_s"] / max(result["writes_per_order"], 0.1)
    result["limit_orders_per_s"] = round(min(by_broker, by_db), 2)
    result["limited_by"] = "broker" if by_broker < by_db else "database"
    result["ratio"] = (
        round(result["orders_per_s"] / result["limit_orders_per_s"], 3) if result["limit_orders_per_s"] else None
    )


def one_level(args, processes: int, raw: dict, mongo: EmbeddedMongo, growth: int = 0) -> dict:
    first = dt.datetime.now(CN).date() + dt.timedelta(days=3)
    with new_vhost() as vhost:
        env = {"SURVEY_CLOSE_GRACE": args.grace}
        with System(vhost.amqp_uri, mongo.uri, processes=processes, gateways=processes, **env) as system:
            log(f"  {processes} process(es) per service: seeding {args.singers}+{args.singers} volunteers")
            people = seed(system, first, args.singers, args.singers, args.troupes, args.palaces)
            # the orders spread over the palaces in turn, each palace's in slots one after another
            windows = [(n % args.palaces, order_window(first, n // args.palaces)) for n in range(args.orders)]
            result = carry(system, people, vhost, mongo, windows, args.in_flight, args.timeout)
            limits(result, raw)
            result["processes"] = processes
            if result["failures"]:
                log(f"    failures: {result['failures']}")
            log(
                f"    {result['closed']}/{result['orders']} closed, {result['orders_per_s']} orders/s, "
                f"{result['messages_per_order']} messages and {result['writes_per_order']} writes per order, "
                f"limit {result['limit_orders_per_s']}/s ({result['limited_by']}), ratio {result['ratio']}"
            )
            grown = None
            if growth > 1:
                log(f"  growing the data {growth}-fold")
                t = time.perf_counter()
                extra = grow(mongo.uri, system.prefix, growth)
                with ClusterRpcProxy(system.config, timeout=120) as rpc:
                    for palace in sorted({p for _, p in extra["volunteers"]}):
                        add_accounts(rpc, [v for v, p in extra["volunteers"] if p == palace], palace)
                login_volunteers(people, [v for v, _ in extra["volunteers"]])
                log(f"    copied {sum(extra['copied'].values())} documents in {time.perf_counter() - t:.0f} s")
                settled = settle(mongo)
                log(f"    the database was busy for {settled:.0f} s more after the copy")
                later = [
                    (n % args.palaces, order_window(first, n // args.palaces))
                    for n in range(args.orders, 2 * args.orders)
                ]
                grown = carry(system, people, vhost, mongo, later, args.in_flight, args.timeout)
                limits(grown, raw)
                grown["processes"] = processes
                grown["copied_documents"] = extra["copied"]
                grown["settled_after_copy_s"] = round(settled, 1)
                log(
                    f"    grown: {grown['closed']}/{grown['orders']} closed, {grown['orders_per_s']} orders/s, "
                    f"{grown['messages_per_order']} messages and {grown['writes_per_order']} writes per order"
                )
            rss = system.peak_rss()
    result["peak_rss_mib"] = rss
    if grown is not None:
        grown["peak_rss_mib"] = rss
    return {"run": result, "grown": grown}


def settle(mongo: EmbeddedMongo, idle_share: float = 0.05, window: float = 2.0, limit: float = 180.0) -> float:
    """Wait until the database is at rest after the bulk copy (its own work on what was written:
    below ``idle_share`` of a processor over ``window`` seconds), so the grown orders are measured
    on the data at rest, not beside that work; returns the seconds waited."""
    started = time.perf_counter()
    while time.perf_counter() - started < limit:
        before = mongo.cpu_seconds()
        time.sleep(window)
        if mongo.cpu_seconds() - before < idle_share * window:
            break
    return time.perf_counter() - started


def grown_figures(scale: int, base: dict, grown: dict) -> dict:
    def ratio(a, b):
        return round(a / b, 3) if b else None

    return {
        "scale": scale,
        "base": base,
        "grown": grown,
        "writes_per_order_ratio": ratio(grown["writes_per_order"], base["writes_per_order"]),
        "messages_per_order_ratio": ratio(grown["messages_per_order"], base["messages_per_order"]),
        "seconds_per_order_ratio": ratio(base["orders_per_s"], grown["orders_per_s"]),
        "cpu_per_order_ratio": ratio(grown["cpu_ms_per_order"]["all"], base["cpu_ms_per_order"]["all"]),
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=80)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--growth", type=int, default=10, help="grow the data this many times (0: skip)")
    parser.add_argument("--palaces", type=int, default=8, help="palaces the orders spread over")
    parser.add_argument("--singers", type=int, default=5, help="singers per palace, and as many players")
    parser.add_argument("--troupes", type=int, default=4)
    parser.add_argument("--in-flight", type=int, default=40, help="orders under way at once")
    parser.add_argument("--grace", default="1", help="SURVEY_CLOSE_GRACE for the services, seconds")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument(
        "--rounds", type=int, default=1, help="run the process counts this many times, every other round reversed"
    )
    parser.add_argument("--out", default=str(RESULTS / "pipeline.json"))
    parser.add_argument(
        "--cluster", action="store_true", help="on a three-node RabbitMQ cluster of its own (scripts/cluster.py)"
    )
    args = parser.parse_args(argv)
    if args.cluster:
        from scripts.cluster import Cluster

        CLUSTER["cluster"] = Cluster(3, base_port=5721).start()
        try:
            return _main(args)
        finally:
            CLUSTER["cluster"].stop()
            CLUSTER["cluster"] = None
    ensure_rabbit()
    return _main(args)


def scaling(runs: list[dict]) -> dict:
    """Per process count (the median of its rounds): orders/s and processor time per order
    against the smallest count's (more processes must not carry fewer orders a second, nor spend
    more per order), and the broker nodes' processor time."""
    if not runs:
        return {}
    by_count: dict[int, list[dict]] = {}
    for r in runs:
        by_count.setdefault(r["processes"], []).append(r)

    def median(values):
        values = [v for v in values if v is not None]
        return round(statistics.median(values), 2) if values else None

    def ratio(a, b):
        return round(a / b, 3) if a is not None and b else None

    rows = []
    for processes, level in sorted(by_count.items()):
        nodes = {}
        for r in level:
            for node, ms in (r.get("broker_nodes_cpu_ms_per_order") or {}).items():
                nodes.setdefault(node, []).append(ms)
        rows.append(
            {
                "processes": processes,
                "rounds": len(level),
                "orders_per_s": median(r["orders_per_s"] for r in level),
                "orders_per_s_each": [r["orders_per_s"] for r in level],
                "cpu_ms_per_order": median(r["cpu_ms_per_order"]["all"] for r in level),
                "services_cpu_ms_per_order": median(r["cpu_ms_per_order"].get("services") for r in level),
                "broker_nodes_cpu_ms_per_order": {node: median(ms) for node, ms in nodes.items()},
                "first_offer_p90_s": median(
                    (r.get("stage_p50_p90_s", {}).get("placed→offer_made") or [None, None])[1] for r in level
                ),
                "conflict_extra_runs_per_order": median(
                    (r.get("conflicts") or {}).get("extra_runs_per_order") for r in level
                ),
            }
        )
    base = rows[0]
    for row in rows:
        row["orders_per_s_ratio"] = ratio(row["orders_per_s"], base["orders_per_s"])
        row["cpu_per_order_ratio"] = ratio(row["cpu_ms_per_order"], base["cpu_ms_per_order"])
    return {
        "by_processes": rows,
        # a few per cent either way is this shared two-core machine's noise
        "met": all(
            (row["orders_per_s_ratio"] or 0) >= 0.95 and (row["cpu_per_order_ratio"] or 9) <= 1.1 for row in rows
        ),
    }


def level_order(processes: list[int], rounds: int) -> list[int]:
    """The process counts of each round, every other round in reverse (1 2 4, 4 2 1, …): a
    level run later in a session meets a busier machine, and this spreads that over them all."""
    order = []
    for r in range(max(1, rounds)):
        order.extend(processes if r % 2 == 0 else list(reversed(processes)))
    return order


def _main(args) -> dict:
    runs, growth = [], None
    with EmbeddedMongo() as mongo:
        with new_vhost("raw") as vhost:
            log("raw limits on this broker and database")
            broker = raw_broker(vhost.amqp_uri, messages=max(500, args.orders * 20))
            database = raw_database(mongo.uri)
    raw = {
        "broker_messages_per_s": broker["messages_per_s"],
        "database_writes_per_s": database["writes_per_s"],
        "broker": broker,
        "database": database,
    }
    log(f"  broker {broker['messages_per_s']} messages/s, database {database['writes_per_s']} writes/s")
    for i, processes in enumerate(level_order(args.processes, args.rounds)):
        # each level on a database of its own, started empty: on one that kept the earlier levels'
        # data the same level ran about a quarter slower (1.43 against 1.86 orders/s at one process)
        with EmbeddedMongo() as mongo:
            out = one_level(args, processes, raw, mongo, growth=args.growth if i == 0 else 0)
            runs.append(out["run"] | {"round": i // len(args.processes) + 1})
            if out["grown"] is not None:
                growth = grown_figures(args.growth, out["run"], out["grown"])
            runs[-1]["peak_rss_mib"]["database"] = mongo.peak_rss_mib()
        report = {
            "benchmark": "pipeline",
            "when": dt.datetime.now(CN).isoformat(timespec="seconds"),
            "machine": {"cpus": os.cpu_count()},
            "settings": vars(args) | {"out": None, "service_nice": setting(None, "SERVICE_NICE")},
            "raw": raw,
            "runs": runs,
            "growth": growth,
            "target": {"ratio": 0.6},
            "met": all((r["ratio"] or 0) >= 0.6 for r in runs),
            "scaling": scaling(runs),
        }
        if args.out:  # after each level, so a long run keeps what it measured
            pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            pathlib.Path(args.out).write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    if args.out:
        log(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    main()
