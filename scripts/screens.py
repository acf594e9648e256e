"""Refresh the screenshots of every main screen under docs/screens/ (`make screens`).

Starts the whole system afresh in a temporary data directory with the demo data, walks each
role's main path and the day of a delivery in headless Chromium (tests/browser/journey.py and
day.py, the paths the browser tests walk), keeping a picture of each screen on the way, then the
main screens on phones (tests/browser/phones.py, at 360 and 390 px). Nothing of an existing `make run` is touched.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PASSWORD = "songwenhua-demo"
# of the phone pictures tests/browser/phones.py takes, the ones kept in docs/screens/
PHONE_SCREENS = [
    f"phone-360-{page}.png"
    for page in (
        "login",
        "register-volunteer",
        "survey",
        "enterprise-orders",
        "enterprise-details",
        "dispatcher-board",
        "dispatcher-details",
        "volunteer-offers",
        "volunteer-schedule",
        "volunteer-hours",
        "volunteer-notifications",
    )
] + ["phone-390-survey.png", "phone-390-volunteer-schedule.png"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


MANAGEMENT = "http://127.0.0.1:15672/api"
GUEST = ("guest", "guest")


def own_vhost(env: dict) -> str | None:
    """On the local broker, a vhost of its own for the run, deleted afterwards: the run's queues
    and messages never stay behind in the broker's default vhost. A broker of your own
    (AMQP_URI set) is used as given."""
    if env.get("AMQP_URI"):
        return None
    vhost = f"screens-{os.getpid()}"
    requests.put(f"{MANAGEMENT}/vhosts/{vhost}", auth=GUEST, timeout=30).raise_for_status()
    requests.put(
        f"{MANAGEMENT}/permissions/{vhost}/guest",
        json={"configure": ".*", "write": ".*", "read": ".*"},
        auth=GUEST,
        timeout=30,
    ).raise_for_status()
    env["AMQP_URI"] = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    return vhost


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "screens"))
    args = parser.parse_args(argv)
    data = tempfile.mkdtemp(prefix="screens-")
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}",
        "MONGO_PORT": str(free_port()),
        "DATA_DIR": data,
        "DB_PREFIX": "screens_",
        "DEMO_PASSWORD": PASSWORD,
        "LOG_LEVEL": "WARNING",
    }
    env.pop("MONGO_URI", None)
    vhost = own_vhost(env)
    base = f"http://127.0.0.1:{port}"
    log = open(os.path.join(data, "run.log"), "w")
    system = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "scripts", "run.py")],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.time() + 180
        while True:
            if system.poll() is not None:
                raise SystemExit(f"the system stopped while starting; see {log.name}")
            try:
                if (
                    requests.post(
                        base + "/api/login", json={"username": "admin", "password": PASSWORD}, timeout=2
                    ).status_code
                    == 200
                ):
                    break
            except requests.RequestException:
                pass
            if time.time() > deadline:
                raise SystemExit(f"the system did not start within 3 minutes; see {log.name}")
            time.sleep(0.5)
        os.makedirs(args.out, exist_ok=True)
        for name in os.listdir(args.out):
            if name.endswith(".png"):
                os.remove(os.path.join(args.out, name))
        for walk in ("journey", "day"):  # each role's main path, then the day of a delivery
            run = subprocess.run(
                [sys.executable, "-m", f"tests.browser.{walk}", "--base", base, "--password", PASSWORD]
                + ["--screens", args.out],
                cwd=ROOT,
            )
            if run.returncode != 0:
                return run.returncode
        # the phones: every page is measured at both sizes; the main ones are kept at 360 px
        phones = os.path.join(data, "phones")
        run = subprocess.run(
            [sys.executable, "-m", "tests.browser.phones", "--base", base, "--password", PASSWORD]
            + ["--screens", phones],
            cwd=ROOT,
        )
        if run.returncode != 0:
            return run.returncode
        for name in PHONE_SCREENS:
            shutil.copy(os.path.join(phones, name), os.path.join(args.out, name))
        login = os.path.join(args.out, "login.png")  # the day's walk pictures its sign-in again
        print(f"screenshots in {os.path.relpath(args.out, ROOT)}/: " + ", ".join(sorted(os.listdir(args.out))))
        return 0 if os.path.exists(login) else 1
    finally:
        system.send_signal(signal.SIGINT)
        try:
            system.wait(40)
        except subprocess.TimeoutExpired:
            system.kill()
        log.close()
        shutil.rmtree(data, ignore_errors=True)
        if vhost:
            requests.delete(f"{MANAGEMENT}/vhosts/{vhost}", auth=GUEST, timeout=30)


if __name__ == "__main__":
    sys.exit(main())
