"""The whole system as separate processes, started by scripts/run.py exactly as `make run` does."""

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
import requests

from tests.helpers import BusSpy
from tests.servers import ROOT, free_port


@contextlib.contextmanager
def running_system(amqp_uri: str, mongo_uri: str, db_prefix: str, **extra_env):
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
    log = open(os.path.join(ROOT, "var", "log", f"e2e-{db_prefix}.log"), "w")
    proc = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "scripts", "run.py")],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            assert proc.poll() is None, f"scripts/run.py exited early; see {log.name}"
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


@pytest.fixture
def system(rabbit_config, mongo_uri, db_prefix):
    config = {"AMQP_URI": rabbit_config["AMQP_URI"]}
    spy = BusSpy(config)
    try:
        with running_system(rabbit_config["AMQP_URI"], mongo_uri, db_prefix) as base:
            yield base, config, spy
    finally:
        spy.close()


@pytest.fixture(scope="module")
def module_system(request, vhost_pipeline, mongo_uri):
    """One system for a whole module (e.g. the schemathesis run), in its own vhost and databases."""
    from urllib.parse import urlparse

    uri = urlparse(request.config.getoption("RABBIT_AMQP_URI"))
    prefix = f"m{uuid.uuid4().hex[:8]}_"
    with vhost_pipeline.get() as vhost:
        amqp_uri = f"{uri.scheme}://{uri.netloc}/{vhost}"
        with running_system(amqp_uri, mongo_uri, prefix) as base:
            yield base, {"AMQP_URI": amqp_uri}
    from pymongo import MongoClient

    client = MongoClient(mongo_uri)
    for name in client.list_database_names():
        if name.startswith(prefix):
            client.drop_database(name)
    client.close()
