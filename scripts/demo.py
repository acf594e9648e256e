"""Drive a realistic scenario through the running system over HTTP (`make demo`).

Started right after `make run`, it first waits until the system is ready (the services answer
and the demo accounts exist), saying so; `python scripts/demo.py --ready` only waits.

Enterprise unions order; one changes its mind and cancels; a dispatcher rejects one order
and accepts the rest; volunteers answer their offers (some decline, and the next candidate is
asked); deliveries take place with check-in and check-out; audience members answer the
surveys on their phones; the surveys close and the orders close with their satisfaction.
"""

from __future__ import annotations

import collections
import datetime as dt
import os
import random
import sys
import time
import warnings

import requests

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from common.clock import CN as CST  # noqa: E402

BASE = os.environ.get("BASE_URL", f"http://127.0.0.1:{os.environ.get('PORT', '8000')}")
S = requests.Session()


PASSWORD = os.environ.get("DEMO_PASSWORD", "songwenhua-demo")
TOKENS: dict[str, str] = {}


def token(username: str) -> str:
    """Sign in once per demo person (admin, dispatchers, enterprise unions, volunteers)."""
    if username not in TOKENS:
        r = S.post(BASE + "/api/login", json={"username": username, "password": PASSWORD}, timeout=30)
        if r.status_code != 200:
            raise SystemExit(f"cannot sign in as {username}: {r.text}")
        TOKENS[username] = r.json()["token"]
    return TOKENS[username]


def call(method: str, path: str, expect=(200, 201, 202), as_: str | None = "admin", **kw):
    headers = {**kw.pop("headers", {}), **({"Authorization": f"Bearer {token(as_)}"} if as_ else {})}
    r = S.request(method, BASE + path, timeout=30, headers=headers, **kw)
    if r.status_code not in expect:
        raise SystemExit(f"{method} {path} → {r.status_code}: {r.text}")
    return r.json()


def wait(predicate, what: str, timeout: float = 120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise SystemExit(f"timed out waiting for {what}")


def wait_until_ready(timeout: float = float(os.environ.get("DEMO_WAIT_SECONDS", "300"))) -> None:
    """Right after `make run` starts, the services come up first and the demo data (sixty
    accounts, each password hashed with argon2) takes a while longer: wait for both, saying so,
    rather than failing on the first sign-in."""
    warnings.filterwarnings("ignore", message=r"(?s).*Eventlet is deprecated")  # imported with the demo data
    from scripts import demo_data

    last = demo_data.accounts(demo_data.build(), PASSWORD)[-1]["username"]  # the demo's accounts come last
    deadline = time.time() + timeout
    said = None
    while True:
        try:
            health = S.get(BASE + "/healthz", timeout=10)
            up = health.status_code == 200
            answer = S.post(BASE + "/api/login", json={"username": last, "password": PASSWORD}, timeout=30)
            if up and answer.status_code == 200:
                TOKENS[last] = answer.json()["token"]
                break
            state = "the demo data is being loaded" if up else "the services are starting"
        except requests.RequestException:
            state = f"nothing answers at {BASE} yet"
        if time.time() > deadline:
            raise SystemExit(
                f"the system at {BASE} was not ready after {timeout:.0f} s ({state}): start it with `make run` "
                "(without NO_DEMO_DATA=1) and run `make demo` again"
            )
        if state != said:
            print(f"waiting for the system at {BASE}: {state}…", flush=True)
            said = state
        time.sleep(1)
    print(f"the system at {BASE} is ready", flush=True)


def main(orders_wanted: int = 10, seed: int = 2026) -> dict:
    rng = random.Random(seed)
    wait_until_ready()
    enterprises = call("GET", "/api/enterprises")
    programs = collections.defaultdict(list)
    for p in call("GET", "/api/programs"):
        programs[p["palace_id"]].append(p)
    today = dt.datetime.now(CST).date()

    print(f"== {orders_wanted} enterprise unions place orders")
    placed = []
    for i in range(orders_wanted):
        ent = enterprises[i % len(enterprises)]
        program = programs[ent["palace_id"]][i % len(programs[ent["palace_id"]])]
        day = today + dt.timedelta(days=3 + i % 7)  # past the palace's lead time (48 hours)
        start = dt.datetime.combine(day, dt.time(14, 0), CST)
        order = call(
            "POST",
            "/api/orders",
            as_=ent["enterprise_id"],
            json={
                "enterprise_id": ent["enterprise_id"],
                "palace_id": ent["palace_id"],
                "program_id": program["program_id"],
                "site_address": ent.get("address") or ent["name"],
                "district": ent["district"],
                "audience_size": rng.randrange(60, 400, 10),
                "windows": [{"start": start.isoformat(), "end": (start + dt.timedelta(hours=6)).isoformat()}],
                "contact_name": "工会干事",
                "contact_phone": f"0573-{8000000 + i}",
            },
        )
        placed.append(order)
        print(f"  {ent['name']} 点单「{program['title']}」 {day} 下午")

    cancelled = placed[-1]
    call(
        "POST",
        f"/api/orders/{cancelled['order_id']}/cancel",
        as_=cancelled["enterprise_id"],
        json={"reason": "企业临时停产检修，改期再约"},
    )
    rejected = placed[0]
    call(
        "POST",
        f"/api/orders/{rejected['order_id']}/reject",
        as_=f"dispatcher-{rejected['palace_id']}",
        json={"reason": "该日场地已排满，请选其他日期"},
    )
    accepted = placed[1:-1]
    for order in accepted:
        call(
            "POST",
            f"/api/orders/{order['order_id']}/accept",
            as_=f"dispatcher-{order['palace_id']}",
            json={"note": "按标配安排"},
        )
    print(f"== dispatcher: {len(accepted)} accepted, 1 rejected; 1 cancelled by its union")

    declined = answered = 0
    finished: dict[str, dict] = {}
    deadline = time.time() + 180
    while len(finished) < len(accepted) and time.time() < deadline:
        for order in accepted:
            oid = order["order_id"]
            if oid in finished:
                continue
            status = call("GET", f"/api/orders/{oid}")["status"]
            if status in ("scheduled", "unfulfillable"):
                finished[oid] = call("GET", f"/api/orders/{oid}/plan")
                continue
            r = S.get(
                f"{BASE}/api/orders/{oid}/plan", timeout=30, headers={"Authorization": f"Bearer {token('admin')}"}
            )
            if r.status_code != 200:
                continue
            for offer in r.json()["offers"]:
                if offer["status"] != "pending":
                    continue
                answered += 1
                # 409: the offer was withdrawn meanwhile (the order could not be crewed)
                if rng.random() < 0.2:
                    declined += 1
                    call(
                        "POST",
                        f"/api/offers/{offer['offer_id']}/decline",
                        expect=(200, 409),
                        as_=offer["volunteer_id"],
                        json={"volunteer_id": offer["volunteer_id"], "reason": "当天单位加班"},
                    )
                else:
                    call(
                        "POST",
                        f"/api/offers/{offer['offer_id']}/accept",
                        expect=(200, 409),
                        as_=offer["volunteer_id"],
                        json={"volunteer_id": offer["volunteer_id"]},
                    )
        time.sleep(0.3)
    print(f"== volunteers answered {answered} offers, declined {declined}")

    delivered = 0
    for oid, plan in finished.items():
        if plan["status"] != "scheduled":
            print(f"  unfulfillable: {plan.get('reason')}")
            continue
        start, end = plan["start"], plan["end"]
        for member in plan["crew"]:
            body = {"volunteer_id": member["volunteer_id"]}
            code = plan.get("sign_in_code")  # read off the enterprise union's screen on site
            call(
                "POST",
                f"/api/orders/{oid}/check-in",
                as_=member["volunteer_id"],
                json={**body, "at": start, "code": code},
            )
            call("POST", f"/api/orders/{oid}/check-out", as_=member["volunteer_id"], json={**body, "at": end})
        order = call("GET", f"/api/orders/{oid}")
        served = int(order["audience_size"] * rng.uniform(0.7, 1.0))
        call(
            "POST",
            f"/api/orders/{oid}/complete",
            as_=f"dispatcher-{plan['palace_id']}",
            json={"people_served": served, "at": end},  # recorded at the slot's end (DAY_CLOCK=recorded)
        )
        delivered += 1
    print(f"== {delivered} deliveries completed")

    responses = 0
    for oid, plan in finished.items():
        if plan["status"] != "scheduled":
            continue
        survey = wait(lambda oid=oid: _survey(oid), f"the survey of {oid}")
        for phone in range(rng.randrange(5, 16)):
            overall = rng.choices([5, 4, 3, 2], weights=[6, 3, 1, 0.3])[0]
            call(
                "POST",
                f"/api/surveys/{survey['token']}/responses",
                as_=None,  # the audience does not sign in
                # each audience member answers on their own phone
                headers={"User-Agent": f"Mozilla/5.0 (Linux; Android 14; phone-{oid[-6:]}-{phone})"},
                json={
                    "overall": overall,
                    "content": min(5, overall + rng.choice([0, 0, 1])),
                    "performers": overall,
                    "organisation": rng.choice([4, 5]),
                    "comment": rng.choice(["节目很精彩，希望多来几次", "希望安排在午休时间", "", "老师讲得很好"]),
                    "wanted_programs": rng.sample(["八段锦", "书法", "电影", "心理讲座", "戏曲"], 2),
                },
            )
            responses += 1
        call("POST", f"/api/orders/{oid}/survey/close")
    for oid, plan in finished.items():
        if plan["status"] == "scheduled":
            wait(lambda oid=oid: call("GET", f"/api/orders/{oid}")["status"] == "closed", f"order {oid} to close")
    print(f"== audience: {responses} survey responses")

    all_orders = [call("GET", f"/api/orders/{o['order_id']}") for o in placed]
    by_status = collections.Counter(o["status"] for o in all_orders)
    served = sum(o["people_served"] or 0 for o in all_orders)
    rated = [(o["satisfaction"], o["responses"]) for o in all_orders if o["satisfaction"] is not None]
    weight = sum(n for _, n in rated)
    satisfaction = round(sum(s * n for s, n in rated) / weight, 2) if weight else None
    summary = {
        "orders": len(all_orders),
        "by_status": dict(sorted(by_status.items())),
        "people_served": served,
        "responses": responses,
        "average_satisfaction": satisfaction,
        "offers_answered": answered,
        "offers_declined": declined,
    }
    print("\n送文化下基层 demo summary")
    print(f"  orders by status : {', '.join(f'{k} {v}' for k, v in sorted(by_status.items()))}")
    print(f"  people served    : {served}")
    print(f"  survey responses : {responses}")
    print(f"  avg satisfaction : {satisfaction} / 5")
    print(f"  offers answered  : {answered} ({declined} declined)")
    # who did what: the audit log's entries of the run, by kind, with their authors
    wanted = (
        "order_placed",
        "order_accepted",
        "order_rejected",
        "order_cancelled",
        "offer_accepted",
        "offer_declined",
        "delivery_completed",
    )
    trail: dict[str, set] = {}

    def logged() -> bool:
        trail.clear()
        page = call("GET", "/api/audit", params={"kind": ",".join(wanted), "limit": "200"})
        for entry in page["entries"]:
            trail.setdefault(entry["kind"], set()).add(entry["actor"]["username"])
        return sum(len(v) for v in trail.values()) > 0 and "delivery_completed" in trail

    wait(logged, "the run's decisions in the audit log", timeout=30)
    summary["audit"] = {kind: sorted(people) for kind, people in trail.items()}
    for kind in wanted:
        if kind in trail:
            people = sorted(trail[kind])
            print(f"  audit {kind:<18}: by {', '.join(people[:4])}{' …' if len(people) > 4 else ''}")
    return summary


def _survey(oid: str):
    r = S.get(f"{BASE}/api/orders/{oid}/survey", timeout=30, headers={"Authorization": f"Bearer {token('admin')}"})
    return r.json() if r.status_code == 200 else None


if __name__ == "__main__":
    if sys.argv[1:] == ["--ready"]:  # only wait until the system is ready (scripts and tests)
        wait_until_ready()
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
