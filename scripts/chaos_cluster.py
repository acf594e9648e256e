"""Fault suite on a RabbitMQ cluster (`make chaos-cluster`; a shorter run is part of `make test`).

Starts a three-node cluster of its own (scripts/cluster.py; the machine's broker on 5672 is not
touched), the embedded database and two processes of every service, each process given the
three nodes' addresses (``AMQP_URI`` with ``;`` between them, the first one differing from
process to process, so that the connections spread over the nodes). Then drives a stream of
orders through the whole flow over HTTP while one broker node after another is SIGKILLed and,
a few seconds later, started again (the next node is killed only once the restarted one has
caught up, so that two of three always hold every quorum queue), with service processes
SIGKILLed and restarted between the node losses as `make chaos` does. Checks every order's end
state, each effect exactly once and no volunteer double-booked, and prints

    orders=N lost=0 duplicated=0 double_booked=0 dead_lettered=0

and, for each node lost, how long the flow paused (seconds from the kill until the next order
progressed: a status, an offer or a survey answer written) and how long the node was away.
Exits non-zero unless lost, duplicated, double_booked and dead_lettered are all zero.
Options: --orders N (default 24), --node-kills K (default 3: each node once), --down SECONDS
(default 5), --seed S, --keep (leave the run's data).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import requests
from pymongo import MongoClient

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from scripts import chaos, demo_data  # noqa: E402
from scripts.cluster import Cluster  # noqa: E402
from scripts.service import TARGETS  # noqa: E402
from tests.servers import free_port  # noqa: E402

PROCESSES = {name: 2 for name in TARGETS}  # --processes changes it


def say(message: str) -> None:
    print(f"[chaos-cluster] {message}", flush=True)


def rotated(uris: list[str], i: int) -> str:
    """The cluster's addresses starting at the ``i``-th: kombu connects to the first that answers."""
    i %= len(uris)
    return ";".join(uris[i:] + uris[:i])


class ClusterSystem(chaos.System):
    """The services on the cluster, two processes each (two gateways, on ports of their own)."""

    def __init__(self, workdir: str, cluster: Cluster):
        super().__init__(workdir, vhost="")
        self.cluster = cluster
        self.amqp_uri = cluster.amqp_uri
        self.uris = [node.amqp_uri for node in cluster.nodes]
        self.env["AMQP_URI"] = self.amqp_uri
        self.gateway_ports = [self.port] + [free_port() for _ in range(PROCESSES["gateway"] - 1)]
        self._started = 0

    def start(self, name: str, i: int) -> None:
        env = {
            **self.env,
            "AMQP_URI": rotated(self.uris, self._started),
            "PROCESS_INDEX": str(i),
            "PROCESSES": str(PROCESSES[name]),
        }
        self._started += 1
        if name == "gateway":
            env["WEB_SERVER_ADDRESS"] = f"127.0.0.1:{self.gateway_ports[i]}"
        self.procs[(name, i)] = subprocess.Popen(
            [sys.executable, "-m", "nameko", "run", "--config", os.path.join(ROOT, "config.yml"), TARGETS[name]],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def start_all(self) -> None:
        self.start_mongo()
        for name, count in PROCESSES.items():
            for i in range(count):
                self.start(name, i)
        self.crashed: list[str] = []
        self._watching = True
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        """A service process that ended without being killed (a fault it did not survive) is
        noted and started again, as an orchestrator would; the run then fails."""
        while self._watching:
            time.sleep(0.5)
            with self.lock:
                for (name, i), proc in list(self.procs.items()):
                    if self._watching and proc.poll() is not None:
                        say(f"{name}#{i + 1} exited by itself ({proc.returncode}); starting it again")
                        self.crashed.append(f"{name}#{i + 1}")
                        self.start(name, i)

    def stop(self) -> None:
        self._watching = False
        with self.lock:
            super().stop()


class Gateways(chaos.Client):
    """HTTP with patience over several gateway processes: a call that fails goes to the next."""

    def __init__(self, bases: list[str], patience: float = 180):
        super().__init__(bases[0], patience)
        self.bases = bases
        self.turn = 0
        self.slowest = 0.0  # seconds of the slowest single answer (a call in flight at a node's loss)
        self.unavailable = 0  # 503 answers

    def call(self, method: str, path: str, as_: str | None = "admin", **kw) -> requests.Response:
        deadline = time.time() + self.patience
        headers = kw.pop("headers", {})
        while True:
            if as_:
                headers["Authorization"] = f"Bearer {self.token(as_)}"
            self.turn += 1
            base = self.bases[self.turn % len(self.bases)]
            began = time.monotonic()
            try:
                r = self.http.request(method, base + path, timeout=30, headers=headers, **kw)
                self.slowest = max(self.slowest, time.monotonic() - began)
                if r.status_code == 503:
                    self.unavailable += 1
                if r.status_code < 500:
                    return r
            except requests.RequestException:
                self.slowest = max(self.slowest, time.monotonic() - began)
            if time.time() > deadline:
                raise SystemExit(f"{method} {path}: no answer for {self.patience}s")
            self.retries += 1
            time.sleep(0.5)


class Progress:
    """When the flow last moved: a thread reads the databases every quarter second and notes the
    moment anything an order goes through changed (an order's history, an offer, an answer)."""

    def __init__(self, mongo_uri: str):
        self.client = MongoClient(mongo_uri, serverSelectionTimeoutMS=2000)
        self.moves: list[float] = []
        self._last = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def start(self) -> Progress:
        self._thread.start()
        return self

    def fingerprint(self):
        histories = sum(len(d.get("history", [])) for d in self.client.orders.orders.find({}, {"history": 1}))
        offers = sorted(
            (str(d.get("_id")), d.get("status")) for d in self.client.dispatch.offers.find({}, {"status": 1})
        )
        answers = self.client.feedback.responses.estimated_document_count()
        return histories, hash(tuple(offers)), answers

    def _watch(self) -> None:
        while not self._stop.wait(0.25):
            try:
                now = self.fingerprint()
            except Exception:  # noqa: BLE001 - the database away for a moment: no reading
                continue
            if now != self._last:
                self._last = now
                self.moves.append(time.time())

    def first_after(self, moment: float) -> float | None:
        return next((t for t in self.moves if t > moment), None)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.client.close()


def monkey(
    system: ClusterSystem,
    cluster: Cluster,
    stop: threading.Event,
    rng: random.Random,
    node_kills: int,
    down: float,
    every: float,
    process_kills: int,
    losses: list,
    faults: list,
    done: threading.Event,
) -> None:
    """Kill a node, start it again after ``down`` seconds, wait until it has caught up, kill a
    service process or two; then the next node."""
    keys = sorted(system.procs)
    rng.shuffle(keys)
    kills = 0
    try:
        for k in range(node_kills):
            if stop.wait(every * rng.uniform(0.5, 1.5)):
                return
            index = k % cluster.size
            node = cluster.nodes[index]
            # never take the quorum away: the node may go only once the others are all in step
            deadline = time.time() + 60
            while node.quorum_critical() and time.time() < deadline and not stop.is_set():
                time.sleep(1)
            say(f"SIGKILL broker node {node.name}")
            killed_at = time.time()
            cluster.kill(index)
            faults.append(f"node {node.name}")
            if stop.wait(down):
                cluster.start_node(index)
                return
            cluster.start_node(index)
            back_at = time.time()
            losses.append({"node": node.name, "killed_at": killed_at, "back_after": round(back_at - killed_at, 1)})
            say(f"{node.name} back after {back_at - killed_at:.1f}s")
            for _ in range(process_kills):
                if stop.wait(every * rng.uniform(0.5, 1.5)):
                    return
                key = keys[kills % len(keys)]
                kills += 1
                say(f"SIGKILL {key[0]}#{key[1] + 1}")
                system.kill(key)
                faults.append(f"{key[0]}#{key[1] + 1}")
    finally:
        done.set()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=24)
    parser.add_argument("--node-kills", type=int, default=3)
    parser.add_argument("--down", type=float, default=5.0)
    parser.add_argument("--kill-every", type=float, default=3.0)
    parser.add_argument("--process-kills", type=int, default=2, help="service processes killed after each node")
    parser.add_argument("--processes", type=int, default=2, help="processes per service")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--base-port", type=int, default=5701)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    PROCESSES.update({name: args.processes for name in PROCESSES})
    started = time.time()
    workdir = tempfile.mkdtemp(prefix="songwenhua-chaos-cluster-")
    cluster = Cluster(3, args.base_port, management=False)
    system = None
    progress = None
    stop = threading.Event()
    faults: list[str] = []
    losses: list[dict] = []
    result: dict = {}
    api = None
    try:
        cluster.start()
        system = ClusterSystem(workdir, cluster)
        system.start_all()
        api = Gateways([f"http://127.0.0.1:{port}" for port in system.gateway_ports])
        chaos.wait_healthy(api)
        demo_data.load({"AMQP_URI": system.amqp_uri})
        say(
            f"system up after {time.time() - started:.0f}s: {args.processes} processes per service; {args.orders} orders"
        )
        progress = Progress(system.mongo_uri).start()
        done = threading.Event()
        thread = threading.Thread(
            target=monkey,
            args=(
                system,
                cluster,
                stop,
                rng,
                args.node_kills,
                args.down,
                args.kill_every,
                args.process_kills,
                losses,
                faults,
                done,
            ),
            daemon=True,
        )
        thread.start()
        orders = chaos.drive(api, args.orders, rng)
        while not done.is_set():  # keep orders flowing until every node has been lost once
            orders.update(chaos.drive(api, 2, rng, first=len(orders)))
        stop.set()
        thread.join(120)
        drained = chaos.wait_for_outboxes(system.mongo_uri, timeout=45)
        result = chaos.verify(system, orders)
        if not drained:
            result["lost"] += result["unpublished"]
    finally:
        stop.set()
        if progress is not None:
            progress.stop()
        if system is not None:
            system.stop()
        cluster.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    for loss in losses:
        moved = progress.first_after(loss["killed_at"]) if progress else None
        loss["paused"] = round(moved - loss["killed_at"], 1) if moved else None
    say(
        f"faults injected: {', '.join(faults) or 'none'}; client retries: {api.retries if api else 0} "
        f"({api.unavailable if api else 0} answered 503); slowest answer {api.slowest if api else 0:.1f}s; "
        f"{time.time() - started:.0f}s; unpublished outbox events: {result.pop('unpublished', '?')}"
    )
    for loss in losses:
        say(f"node {loss['node']}: flow paused {loss['paused']}s, node back after {loss['back_after']}s")
    print(" ".join(f"{k}={v}" for k, v in result.items()), flush=True)
    print("paused=" + ",".join(str(loss["paused"]) for loss in losses), flush=True)
    crashed = getattr(system, "crashed", [])
    if crashed:
        say(f"service processes that exited by themselves: {', '.join(crashed)}")
    ok = bool(result) and result["lost"] == result["duplicated"] == result["double_booked"] == 0 and not crashed
    ok = ok and result["dead_lettered"] == 0 and len(losses) == args.node_kills
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
