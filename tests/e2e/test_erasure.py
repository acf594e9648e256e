"""End to end: a volunteer closes their account. After the grace period every service removes or
anonymises what it holds about them: no collection of any service's database holds their name,
phone or card number any more; the delivery to come they had accepted goes to a colleague; the
dashboards, the volunteers' hours and the Excel export give the same totals as before, and so does
a rebuild of the statistics from the archive. A request cancelled in time erases nothing."""

import datetime as dt
import io
import json

import pytest
import requests
from bson import json_util
from nameko.standalone.rpc import ClusterRpcProxy
from openpyxl import load_workbook

from tests.helpers import signed_in as signed_in_as
from tests.helpers import wait_until
from tests.servers import running_system

pytestmark = pytest.mark.e2e
CST = dt.timezone(dt.timedelta(hours=8))
PASSWORD = "e2e-password"
NAME, PHONE, CARD = "欧阳晓岚", "13911112222", "ZJHN-2026-000123"
SERVICES = ("accounts", "dispatch", "orders", "notifications", "feedback", "reporting", "audit")
GRACE_DAYS = 8 / 86400  # eight seconds


def _free(day: dt.date) -> list[dict]:
    start, end = dt.datetime.combine(day, dt.time(8), CST), dt.datetime.combine(day, dt.time(21), CST)
    return [{"start": start.isoformat(), "end": end.isoformat()}]


def _volunteer(rpc, vid: str, name: str, phone: str, skill: str, days: list[dt.date], card: str | None = None):
    rpc.dispatch.upsert_volunteer(
        {
            "volunteer_id": vid,
            "palace_id": "haining",
            "name": name,
            "phone": phone,
            "union_card": card,
            "skills": [skill],
            "district": "海宁",
            "availability": [w for d in days for w in _free(d)],
        }
    )
    rpc.accounts.create_user(
        {
            "username": vid,
            "password": PASSWORD,
            "role": "volunteer",
            "palace_id": "haining",
            "volunteer_id": vid,
            "display_name": name,
            "union_card": card,
        }
    )


def signed_in(base: str, username: str):
    return signed_in_as(base, username, PASSWORD)


@pytest.fixture
def erasing_system(rabbit_config, mongo_uri, db_prefix):
    with running_system(rabbit_config["AMQP_URI"], mongo_uri, db_prefix, ERASURE_GRACE_DAYS=str(GRACE_DAYS)) as base:
        yield base, {"AMQP_URI": rabbit_config["AMQP_URI"]}


def _scheduled(base, http, union, day: dt.date) -> dict:
    start = dt.datetime.combine(day, dt.time(14), CST)
    r = union.post(
        f"{base}/api/orders",
        json={
            "enterprise_id": "jingbian",
            "palace_id": "haining",
            "program_id": "song",
            "site_address": "经编园区 3 号厂房",
            "district": "海宁",
            "audience_size": 300,
            "windows": [{"start": start.isoformat(), "end": (start + dt.timedelta(hours=4)).isoformat()}],
            "contact_name": "王主席",
            "contact_phone": "0573-87000000",
        },
    )
    assert r.status_code == 201, r.text
    oid = r.json()["order_id"]
    assert http.post(f"{base}/api/orders/{oid}/accept", json={}).status_code == 200
    return {"order_id": oid}


def _answer_all(base, http, crew, oid) -> dict:
    def pending():
        plan = http.get(f"{base}/api/orders/{oid}/plan").json()
        return [o for o in plan.get("offers", []) if o["status"] == "pending"]

    offers = wait_until(lambda: len(pending()) == 2 and pending(), what="two offers")
    for offer in offers:
        r = crew[offer["volunteer_id"]].post(
            f"{base}/api/offers/{offer['offer_id']}/accept", json={"volunteer_id": offer["volunteer_id"]}
        )
        assert r.status_code == 200, r.text
    wait_until(lambda: http.get(f"{base}/api/orders/{oid}").json()["status"] == "scheduled", what="scheduled")
    return http.get(f"{base}/api/orders/{oid}/plan").json()


def _figures(base, http, period) -> dict:
    totals = http.get(f"{base}/api/reports/dashboard", params=period).json()["totals"]
    board = http.get(f"{base}/api/reports/volunteers", params=period).json()["items"]
    book = load_workbook(io.BytesIO(http.get(f"{base}/api/reports/export.xlsx", params=period).content))
    sheet = book[book.sheetnames[0]]
    header, total = [c.value for c in sheet[1]], [c.value for c in sheet[sheet.max_row]]
    return {
        "totals": totals,
        "hours": sorted((r["hours"], r["deliveries"]) for r in board if r["deliveries"]),
        "excel": dict(zip(header, total, strict=True)),
    }


# the offers: the colleague asked to cover is one more offer made; everything else stays
OFFERS = ("offers", "decline_rate", "expiry_rate")


def _counts(figures: dict) -> dict:
    return {
        "totals": {k: v for k, v in figures["totals"].items() if k not in OFFERS},
        "hours": figures["hours"],
        "excel": {k: v for k, v in figures["excel"].items() if not any(w in str(k) for w in ("邀约", "婉拒", "超时"))},
    }


def _holding(mongo, db_prefix, texts) -> list[str]:
    """Every document of every service's database that holds one of ``texts``, anywhere."""
    found = []
    for service in SERVICES:
        db = mongo[f"{db_prefix}{service}"]
        for name in db.list_collection_names():
            for doc in db[name].find({}):
                text = json_util.dumps(doc, ensure_ascii=False)
                found += [f"{service}.{name} {doc.get('_id')!r}: {t}" for t in texts if t in text]
    return found


def test_an_erased_volunteer_is_nowhere_and_every_count_stays(erasing_system, mongo, db_prefix):
    base, config = erasing_system
    today = dt.datetime.now(CST).date()
    first, second = today + dt.timedelta(days=3), today + dt.timedelta(days=5)
    with ClusterRpcProxy(config, timeout=30) as rpc:
        rpc.dispatch.upsert_palace({"palace_id": "haining", "name": "海宁市工人文化宫", "district": "海宁"})
        rpc.dispatch.upsert_program(
            {
                "program_id": "song",
                "palace_id": "haining",
                "title": "劳动者之歌 文艺演出",
                "kind": "performance",
                "duration_minutes": 120,
                "needs": [{"skill": "声乐", "count": 1}, {"skill": "器乐", "count": 1}],
            }
        )
        rpc.orders.register_enterprise(
            {"enterprise_id": "jingbian", "palace_id": "haining", "name": "海宁经编产业园联合工会", "district": "海宁"}
        )
        for username, role, extra in (
            ("jingbian", "enterprise", {"enterprise_id": "jingbian"}),
            ("dispatcher", "dispatcher", {}),
        ):
            rpc.accounts.create_user(
                {"username": username, "password": PASSWORD, "role": role, "palace_id": "haining", **extra}
            )
        _volunteer(rpc, "v1", NAME, PHONE, "声乐", [first, second], CARD)
        _volunteer(rpc, "v2", "司马青松", "13933334444", "器乐", [first, second])
    union, http = signed_in(base, "jingbian"), signed_in(base, "dispatcher")
    crew = {v: signed_in(base, v) for v in ("v1", "v2")}

    # one delivery served by both, with the audience naming the singer in a comment
    served = _scheduled(base, http, union, first)["order_id"]
    plan = _answer_all(base, http, crew, served)
    for member in plan["crew"]:
        body = {"volunteer_id": member["volunteer_id"]}
        phone = crew[member["volunteer_id"]]
        code = plan["sign_in_code"]
        assert phone.post(f"{base}/api/orders/{served}/check-in", json={**body, "at": plan["start"], "code": code}).ok
        assert phone.post(f"{base}/api/orders/{served}/check-out", json={**body, "at": plan["end"]}).ok
    done = http.post(f"{base}/api/orders/{served}/complete", json={"people_served": 280, "at": plan["end"]})
    assert done.status_code == 200, done.text
    survey = wait_until(
        lambda: (r := http.get(f"{base}/api/orders/{served}/survey")).ok and r.json()["status"] == "open" and r.json(),
        what="the survey open",
    )
    for overall in (5, 4):
        r = requests.post(
            f"{base}/api/surveys/{survey['token']}/responses",
            json={"overall": overall, "performers": 5, "comment": f"{NAME}老师唱得真好"},
        )
        assert r.status_code == 202, r.text
    assert http.post(f"{base}/api/orders/{served}/survey/close").ok
    wait_until(lambda: http.get(f"{base}/api/orders/{served}").json()["status"] == "closed", what="closed")

    # one delivery to come the singer has accepted; then a colleague who could cover joins
    coming = _scheduled(base, http, union, second)["order_id"]
    _answer_all(base, http, crew, coming)
    with ClusterRpcProxy(config, timeout=30) as rpc:
        _volunteer(rpc, "v3", "诸葛春燕", "13955556666", "声乐", [first, second])
    cover = signed_in(base, "v3")

    month = first.strftime("%Y-%m")
    period = {"start": min(month, today.strftime("%Y-%m")), "end": max(month, today.strftime("%Y-%m"))}
    reporting = mongo[f"{db_prefix}reporting"]
    wait_until(lambda: reporting.pending.count_documents({}) == 0, what="every event counted")
    before = wait_until(
        lambda: (f := _figures(base, http, period))["totals"]["responses"] == 2 and f, what="the figures"
    )
    assert before["totals"]["deliveries"] == 1 and before["totals"]["people_served"] == 280
    assert _holding(mongo, db_prefix, [NAME, PHONE, CARD])  # the test looks where the data is

    # a request cancelled in time erases nothing
    other = crew["v2"]
    asked = other.post(f"{base}/api/me/erasure")
    assert asked.status_code == 201 and asked.json()["status"] == "pending", asked.text
    assert other.post(f"{base}/api/me/erasure").json()["erasure_id"] == asked.json()["erasure_id"]  # asked twice: one
    cancelled = other.post(f"{base}/api/me/erasure/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = other.post(f"{base}/api/me/erasure/cancel")
    assert again.status_code == 404 and again.json()["message"]

    # the singer asks; the request waits out its grace period, seen by the dispatcher
    mine = crew["v1"].post(f"{base}/api/me/erasure")
    assert mine.status_code == 201, mine.text
    state = crew["v1"].get(f"{base}/api/me/erasure").json()
    assert state["erasure"]["status"] == "pending" and state["grace_days"] == pytest.approx(GRACE_DAYS)
    listed = http.get(f"{base}/api/erasures").json()
    assert [e["username"] for e in listed] == ["v1"]
    assert union.get(f"{base}/api/erasures").status_code == 403
    assert union.post(f"{base}/api/accounts/v1/erasure").status_code == 403

    # carried out: the account is gone, the delivery to come asks the colleague instead
    wait_until(
        lambda: requests.post(f"{base}/api/login", json={"username": "v1", "password": PASSWORD}).status_code == 401,
        what="the account gone",
        timeout=120,
    )
    assert crew["v1"].get(f"{base}/api/me").status_code == 401

    def covered():
        offers = http.get(f"{base}/api/orders/{coming}/plan").json()["offers"]
        return [o for o in offers if o["volunteer_id"] == "v3" and o["status"] == "pending"] and offers

    offers = wait_until(covered, what="the colleague asked to cover")
    assert {o["status"] for o in offers if o["volunteer_id"] == "v1"} == {"withdrawn"}
    ask = next(o for o in offers if o["volunteer_id"] == "v3" and o["status"] == "pending")
    assert cover.post(f"{base}/api/offers/{ask['offer_id']}/accept", json={"volunteer_id": "v3"}).ok

    def finished():
        return all(
            mongo[f"{db_prefix}{s}"].erasure_jobs.count_documents({"done_at": {"$ne": None}}) == 1 for s in SERVICES
        )

    wait_until(finished, what="every service's erasure job done", timeout=120)
    assert _holding(mongo, db_prefix, [NAME, PHONE, CARD]) == []
    assert all(mongo[f"{db_prefix}{s}"].erasure_jobs.find_one()["texts"] == [] for s in SERVICES)
    assert http.get(f"{base}/api/erasures", params={"status": "done"}).json()[0]["username"].startswith("已注销用户-")
    # the colleague who cancelled is still there, as they were
    assert signed_in(base, "v2").get(f"{base}/api/me").json()["username"] == "v2"

    # every statistic as before, and as before once rebuilt from the anonymised archive
    wait_until(lambda: reporting.pending.count_documents({}) == 0, what="every event counted")
    after = _figures(base, http, period)
    assert _counts(after) == _counts(before)
    assert after["totals"]["offers"] == before["totals"]["offers"] + 1
    with ClusterRpcProxy(config, timeout=120) as rpc:
        rpc.reporting.rebuild("dispatcher")
    wait_until(lambda: reporting.pending.count_documents({}) == 0, what="the rebuild counted")
    rebuilt = _figures(base, http, period)
    assert rebuilt == after
    assert json.dumps(rebuilt, ensure_ascii=False).count(NAME) == 0
