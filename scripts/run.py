"""Start the whole system on this machine: embedded MongoDB (unless MONGO_URI is set), every
service and the gateway, then load the demo data. Ctrl-C stops everything it started.

Environment: PORT (gateway, default 8000), MONGO_URI, AMQP_URI, MONGO_PORT (embedded server,
default 27017), DATA_DIR (default var/), PROCESSES (processes per service, default 1),
NO_DEMO_DATA=1 to start empty.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from common.config import setting  # noqa: E402
from scripts.service import TARGETS as SERVICES  # noqa: E402


def log(message: str) -> None:
    print(f"[run] {message}", flush=True)


def embedded_mongo_command(port, data: str, log_level: str = "WARNING") -> list[str]:
    """SecantusDB, the embedded MongoDB wire-protocol server, synced on every commit (without
    the flag a killed server can lose acknowledged writes)."""
    exe = os.path.join(os.path.dirname(sys.executable), "secantusd-py")
    return [
        exe,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--storage-path",
        data,
        "--sync-on-commit",
        "--log-level",
        log_level,
    ]


def embedded_mongo_uri(port) -> str:
    """How the services reach the embedded server: without retryable writes. The server keeps
    a record of every retryable write for 30 minutes (up to 10,000) and walks them all on each
    write, sorting them once full: a single insert cost it 1.4 ms of processor fresh and 16 ms
    after 12,000 writes, where without the records it stays at 1.1 ms. The services need no
    retry there: a write outside a transaction that fails is done again by its caller (the relay,
    the timers, the person's request), and transactions retry their commit regardless."""
    return f"mongodb://127.0.0.1:{port}/?directConnection=true&retryWrites=false"


def start_mongo(env: dict, children: list) -> str:
    from pymongo import MongoClient

    port = str(setting(env, "MONGO_PORT"))
    data = os.path.join(env.get("DATA_DIR", os.path.join(ROOT, "var")), "mongo")
    os.makedirs(data, exist_ok=True)
    uri = embedded_mongo_uri(port)
    try:
        MongoClient(uri, serverSelectionTimeoutMS=300).admin.command("ping")
        log(f"a database already answers on {uri}; using it")
        return uri
    except Exception:
        pass
    logfile = open(os.path.join(os.path.dirname(data), "mongo.log"), "ab")
    proc = subprocess.Popen(
        embedded_mongo_command(port, data, "WARNING"),
        stdout=logfile,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    children.append(("mongo", proc))
    deadline = time.time() + 60
    while True:
        try:
            MongoClient(uri, serverSelectionTimeoutMS=300).admin.command("ping")
            break
        except Exception:
            if proc.poll() is not None or time.time() > deadline:
                raise SystemExit(f"the embedded database did not start; see {logfile.name}") from None
            time.sleep(0.3)
    log(f"embedded database (SecantusDB) on {uri}, data in {data}")
    return uri


def lower_priority(env: dict):
    """What a service process runs before it starts: ``nice`` by ``SERVICE_NICE``, so the
    database and the broker that every service process waits on are not crowded out by them
    (None when it is 0)."""
    nice = setting(env, "SERVICE_NICE")
    return (lambda: os.nice(nice)) if nice > 0 else None


def start_services(env: dict, children: list, processes: int) -> None:
    for name, target in SERVICES.items():
        count = 1 if name == "gateway" else processes
        for i in range(count):
            proc = subprocess.Popen(
                [sys.executable, "-m", "nameko", "run", "--config", os.path.join(ROOT, "config.yml"), target],
                cwd=ROOT,
                # which of the service's processes this is: dispatch spreads the palaces' shards by it
                env={**env, "PROCESS_INDEX": str(i), "PROCESSES": str(count)},
                start_new_session=True,
                preexec_fn=lower_priority(env),
            )
            children.append((f"{name}#{i + 1}", proc))
    log(f"started {', '.join(n for n, _ in children if n != 'mongo')}")


def wait_healthy(base: str, children: list, timeout: float = 90) -> None:
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        for name, proc in children:
            if proc.poll() is not None:
                raise SystemExit(f"{name} exited with {proc.returncode}")
        try:
            r = requests.get(f"{base}/healthz", timeout=3)
            if r.status_code == 200:
                return
            last = r.text
        except requests.RequestException as err:
            last = str(err)
        time.sleep(0.5)
    raise SystemExit(f"the system did not become healthy: {last}")


def stop(children: list) -> None:
    """Services first (they finish their work and release their leases), the database last."""
    services = [(n, p) for n, p in children if n != "mongo"]
    for group in (services, [(n, p) for n, p in children if n == "mongo"]):
        for _, proc in group:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.time() + 20
        for _, proc in group:
            try:
                proc.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                proc.kill()


def main() -> None:
    subprocess.run(["bash", os.path.join(ROOT, "scripts", "ensure_rabbit.sh")], check=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    port = setting(env, "PORT")
    env.setdefault("WEB_SERVER_ADDRESS", f"127.0.0.1:{port}")
    # the local system: `make demo` and the tests play a delivery's day days ahead by recording
    # its times (`at`); the screens record none and go by the clock. docker-compose and deploy/
    # leave DAY_CLOCK at "real".
    env.setdefault("DAY_CLOCK", "recorded")
    children: list = []

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    # SIGINT too: a shell that starts us in the background sets it to "ignore"
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, on_signal)
    try:
        if not env.get("MONGO_URI"):
            env["MONGO_URI"] = start_mongo(env, children)
        start_services(env, children, setting(env, "PROCESSES"))
        base = f"http://{env['WEB_SERVER_ADDRESS']}"
        wait_healthy(base, children)
        if setting(env, "NO_DEMO_DATA") != "1":
            from scripts import demo_data

            counts = demo_data.load(env)
            log("demo data loaded: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
            log(
                "demo sign-ins (password: DEMO_PASSWORD, default songwenhua-demo): admin, "
                "dispatcher-haining, dispatcher-qingdao, haining-jingbian (an enterprise), haining-v01 (a volunteer)"
            )
        log(f"ready on {base}  (GET {base}/healthz; `make demo` drives a scenario; Ctrl-C stops)")
        while True:
            for name, proc in children:
                if proc.poll() is not None:
                    raise SystemExit(f"{name} exited with {proc.returncode}; stopping")
            time.sleep(1)
    except KeyboardInterrupt:
        log("stopping…")
    finally:
        stop(children)
        log("stopped")


if __name__ == "__main__":
    main()
