"""A whole system for a benchmark: its own RabbitMQ vhost, its own embedded database in a temp
directory, N processes per service, and what the broker and the database did meanwhile.

Used by bench/pipeline.py and bench/intake.py; the processes are those of `make run`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from urllib.parse import quote

import requests
from pymongo import MongoClient

from scripts.run import ROOT, embedded_mongo_command, embedded_mongo_uri, lower_priority, stop, wait_healthy
from scripts.service import TARGETS
from tests.servers import free_port, wait_for_mongo

MANAGEMENT = os.environ.get("RABBIT_MANAGEMENT", "http://127.0.0.1:15672")
AUTH = ("guest", "guest")
# the kinds of command the database's `top` keeps apart
OPS = ("insert", "update", "remove", "queries", "getmore", "commands")


def ensure_rabbit() -> None:
    subprocess.run(["bash", os.path.join(ROOT, "scripts", "ensure_rabbit.sh")], check=True)


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident set (VmHWM), in MiB; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


def broker_cpu_seconds() -> float:
    """The processor time of the local RabbitMQ (its Erlang VM), 0 when it runs elsewhere."""
    try:
        pids = subprocess.run(["pgrep", "-f", "beam.smp"], capture_output=True, text=True, check=False).stdout.split()
    except OSError:
        return 0.0
    return sum(cpu_seconds(int(pid)) for pid in pids)


def cpu_seconds(pid: int) -> float:
    """Processor time the process has used so far (user + system), in seconds; 0 once gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


class Vhost:
    """A RabbitMQ vhost of its own, so counts and queues are this run's only: on the machine's
    broker, or (``management``, ``hosts``) on a cluster's nodes, quorum queues by default there."""

    def __init__(self, prefix: str = "bench", management: str | None = None, hosts: list[str] | None = None):
        self.name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        self.management = management or MANAGEMENT
        self.hosts = hosts or ["127.0.0.1:5672"]
        self.api = f"{self.management}/api/vhosts/{quote(self.name, safe='')}"

    def __enter__(self) -> Vhost:
        body = {"default_queue_type": "quorum"} if len(self.hosts) > 1 else None
        requests.put(self.api, json=body, auth=AUTH, timeout=10).raise_for_status()
        requests.put(
            f"{self.management}/api/permissions/{quote(self.name, safe='')}/guest",
            json={"configure": ".*", "write": ".*", "read": ".*"},
            auth=AUTH,
            timeout=10,
        ).raise_for_status()
        return self

    @property
    def amqp_uri(self) -> str:
        """The vhost on every node, ``;`` between them (kombu's failover list)."""
        return ";".join(f"amqp://guest:guest@{host}/{quote(self.name, safe='')}" for host in self.hosts)

    def published(self, exclude: str | None = None) -> int:
        """Messages published into the vhost so far, from the queues' own counters (what
        every consumer was handed), summed, leaving out the queue named `exclude`; the
        counters refresh every 5 s."""
        queues = requests.get(
            f"{self.management}/api/queues/{quote(self.name, safe='')}",
            auth=AUTH,
            timeout=10,
            params={"columns": "name,message_stats"},
        ).json()
        return sum((q.get("message_stats") or {}).get("publish", 0) for q in queues if q["name"] != exclude)

    def __exit__(self, *exc) -> None:
        requests.delete(self.api, auth=AUTH, timeout=30)


class EmbeddedMongo:
    """SecantusDB in a temp directory, synced on every commit like `make run`."""

    def __init__(self):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="secantus-bench-")
        self.uri = embedded_mongo_uri(self.port)
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> EmbeddedMongo:
        self.proc = subprocess.Popen(
            embedded_mongo_command(str(self.port), self.dir, "WARNING"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for_mongo(self.uri, 60)
        return self

    def writes(self) -> int:
        """Write commands so far (inserts, updates, deletes; a many-document insert or update
        is one) from serverStatus' opcounters."""
        ops = MongoClient(self.uri).admin.command("serverStatus").get("opcounters", {})
        return int(ops.get("insert", 0)) + int(ops.get("update", 0)) + int(ops.get("delete", 0))

    def top(self, prefix: str = "") -> dict[str, dict[str, int]]:
        """Per collection (databases starting with `prefix`, which is left out of the name):
        write commands, read commands and the server's time on it in microseconds, from `top`."""
        totals = MongoClient(self.uri).admin.command("top")["totals"]
        out = {}
        for ns, t in totals.items():
            if ns == "note" or not ns.startswith(prefix):
                continue
            out[ns.removeprefix(prefix)] = {
                "writes": t["insert"]["count"] + t["update"]["count"] + t["remove"]["count"],
                "reads": t["queries"]["count"] + t["getmore"]["count"],
                "time_us": t["total"]["time"],
                **{f"{op}_count": t[op]["count"] for op in OPS},
                **{f"{op}_us": t[op]["time"] for op in OPS},
            }
        return out

    def peak_rss_mib(self) -> float:
        return peak_rss_mib(self.proc.pid) if self.proc else 0.0

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.proc.pid) if self.proc else 0.0

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class System:
    """Every service with `processes` processes each (the gateway with `gateways`), as
    `make run` starts them, on a vhost and a database prefix of their own."""

    def __init__(self, amqp_uri: str, mongo_uri: str, processes: int = 1, gateways: int = 1, **env):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.prefix = f"b{uuid.uuid4().hex[:6]}_"
        self.processes = processes
        self.gateways = gateways
        self.env = {
            **os.environ,
            "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
            "AMQP_URI": amqp_uri,
            "MONGO_URI": mongo_uri,
            "DB_PREFIX": self.prefix,
            "PORT": str(self.port),
            "WEB_SERVER_ADDRESS": f"127.0.0.1:{self.port}",
            "LOG_LEVEL": "WARNING",
            "DAY_CLOCK": "recorded",  # the pipeline records each delivery straight after scheduling
            **{k: str(v) for k, v in env.items()},
        }
        self.children: list[tuple[str, subprocess.Popen]] = []
        self.log_path = os.path.join(ROOT, "var", "log", f"bench-{self.prefix}.log")

    @property
    def config(self) -> dict:
        return {"AMQP_URI": self.env["AMQP_URI"], "MONGO_URI": self.env["MONGO_URI"], "DB_PREFIX": self.prefix}

    def __enter__(self) -> System:
        os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        log = open(self.log_path, "ab")
        for name, target in TARGETS.items():
            count = self.gateways if name == "gateway" else self.processes
            for i in range(count):
                proc = subprocess.Popen(
                    [sys.executable, "-m", "nameko", "run", "--config", os.path.join(ROOT, "config.yml"), target],
                    cwd=ROOT,
                    env={**self.env, "PROCESS_INDEX": str(i), "PROCESSES": str(count)},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=lower_priority(self.env),
                )
                self.children.append((f"{name}#{i + 1}", proc))
        try:
            wait_healthy(self.base, self.children, timeout=120)
        except BaseException:
            stop(self.children)
            raise
        return self

    def cpu_seconds(self) -> dict[str, float]:
        """Processor seconds used so far by each service, its processes summed."""
        out: dict[str, float] = {}
        for name, proc in self.children:
            service = name.split("#")[0]
            out[service] = out.get(service, 0.0) + cpu_seconds(proc.pid)
        return out

    def peak_rss(self) -> dict[str, float]:
        return {name: peak_rss_mib(proc.pid) for name, proc in self.children}

    def __exit__(self, *exc) -> None:
        stop(self.children)
