"""Small helpers for starting real servers in tests."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time

import requests
from pymongo import MongoClient

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_mongo(uri: str, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while True:
        try:
            MongoClient(uri, serverSelectionTimeoutMS=500).admin.command("ping")
            return
        except Exception:
            if time.time() > deadline:
                raise
            time.sleep(0.2)


@contextlib.contextmanager
def running_system(amqp_uri: str, mongo_uri: str, db_prefix: str, **extra_env):
    """The whole system, started by scripts/run.py as `make run` does; its gateway's address."""
    with _running(
        [os.path.join(ROOT, "scripts", "run.py")], f"e2e-{db_prefix}", amqp_uri, mongo_uri, db_prefix, extra_env
    ) as base:
        yield base


@contextlib.contextmanager
def another_gateway(amqp_uri: str, mongo_uri: str, db_prefix: str, **extra_env):
    """One more gateway process beside a running system (same broker vhost and databases), on
    a port of its own; its address."""
    command = ["-m", "nameko", "run", "--config", os.path.join(ROOT, "config.yml")]
    target = "services.gateway.service:GatewayService"
    with _running([*command, target], f"e2e-{db_prefix}-gateway", amqp_uri, mongo_uri, db_prefix, extra_env) as base:
        yield base


@contextlib.contextmanager
def _running(args: list, log_name: str, amqp_uri: str, mongo_uri: str, db_prefix: str, extra_env: dict):
    port = free_port()
    env = {
        **os.environ,
        "AMQP_URI": amqp_uri,
        "MONGO_URI": mongo_uri,
        "DB_PREFIX": db_prefix,
        "PORT": str(port),
        "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}",
        "NO_DEMO_DATA": "1",
        "LOG_LEVEL": "WARNING",
        **extra_env,
    }
    os.makedirs(os.path.join(ROOT, "var", "log"), exist_ok=True)
    log = open(os.path.join(ROOT, "var", "log", f"{log_name}.log"), "w")
    proc = subprocess.Popen([sys.executable, *args], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            assert proc.poll() is None, f"{args[-1]} exited early; see {log.name}"
            try:
                if requests.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.time() < deadline, "the system did not become healthy"
            time.sleep(0.5)
        yield base
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(40)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def forget_databases(mongo_uri: str, prefix: str) -> None:
    """Drop a test's databases on a MongoDB given from outside (``MONGO_URI``).

    The embedded server started for the tests is thrown away whole at the end, so its
    databases are left in place: its dropDatabase holds the server's global lock while it
    waits for rows that an open transaction holds, and a service still counting in a
    transaction then waits for that lock for ever (the whole server stops answering)."""
    if not os.environ.get("MONGO_URI"):
        return
    client = MongoClient(mongo_uri)
    try:
        for name in client.list_database_names():
            if name.startswith(prefix):
                client.drop_database(name)
    finally:
        client.close()
