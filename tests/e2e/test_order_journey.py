"""End to end: every service as its own process (started by scripts/run.py, as `make run`
does), real RabbitMQ and MongoDB. One order travels from placement to closed with its
satisfaction; the events on the bus and the state in each service's database are checked."""

import datetime as dt
import io
import json
import re

import pytest
import requests
from icalendar import Calendar
from nameko.standalone.rpc import ClusterRpcProxy

from tests.helpers import wait_until

pytestmark = pytest.mark.e2e
CST = dt.timezone(dt.timedelta(hours=8))


def seed(config):
    day = dt.datetime.now(CST).date() + dt.timedelta(days=3)
    free = [
        {
            "start": dt.datetime.combine(day, dt.time(8), CST).isoformat(),
            "end": dt.datetime.combine(day, dt.time(21), CST).isoformat(),
        }
    ]
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
        people = [("v1", "张敏", "声乐"), ("v2", "李强", "器乐"), ("v3", "王芳", "声乐")]
        for vid, name, skill in people:
            rpc.dispatch.upsert_volunteer(
                {
                    "volunteer_id": vid,
                    "palace_id": "haining",
                    "name": name,
                    "phone": "13900000000",
                    "skills": [skill],
                    "district": "海宁",
                    "troupe_ids": ["art"],
                    "availability": free,
                }
            )
        rpc.dispatch.upsert_troupe(
            {
                "troupe_id": "art",
                "palace_id": "haining",
                "name": "职工艺术团",
                "district": "海宁",
                "members": [p[0] for p in people],
                "repertoire": ["song"],
            }
        )
        rpc.orders.register_enterprise(
            {"enterprise_id": "jingbian", "palace_id": "haining", "name": "海宁经编产业园联合工会", "district": "海宁"}
        )
        rpc.accounts.create_user(
            {
                "username": "jingbian",
                "password": PASSWORD,
                "role": "enterprise",
                "palace_id": "haining",
                "enterprise_id": "jingbian",
            }
        )
        rpc.accounts.create_user(
            {"username": "dispatcher", "password": PASSWORD, "role": "dispatcher", "palace_id": "haining"}
        )
        for vid, _, _ in people:
            rpc.accounts.create_user(
                {
                    "username": vid,
                    "password": PASSWORD,
                    "role": "volunteer",
                    "palace_id": "haining",
                    "volunteer_id": vid,
                }
            )
    start = dt.datetime.combine(day, dt.time(14), CST)
    return [{"start": start.isoformat(), "end": (start + dt.timedelta(hours=4)).isoformat()}]


PASSWORD = "e2e-password"


def signed_in(base: str, username: str) -> requests.Session:
    session = requests.Session()
    r = session.post(f"{base}/api/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    session.headers["Authorization"] = f"Bearer {r.json()['token']}"
    return session


def test_one_order_travels_from_placement_to_closed_with_its_satisfaction(system, mongo, db_prefix):
    base, config, spy = system
    windows = seed(config)
    union = signed_in(base, "jingbian")
    http = signed_in(base, "dispatcher")
    crew = {v: signed_in(base, v) for v in ("v1", "v2", "v3")}
    audience = requests.Session()

    r = union.post(
        f"{base}/api/orders",
        json={
            "enterprise_id": "jingbian",
            "palace_id": "haining",
            "program_id": "song",
            "site_address": "经编园区 3 号厂房",
            "district": "海宁",
            "audience_size": 300,
            "windows": windows,
            "contact_name": "王芳",
            "contact_phone": "0573-87000000",
        },
    )
    assert r.status_code == 201, r.text
    oid = r.json()["order_id"]
    assert http.post(f"{base}/api/orders/{oid}/accept", json={"note": "安排艺术团"}).status_code == 200

    def pending():
        plan = http.get(f"{base}/api/orders/{oid}/plan")
        return plan.status_code == 200 and [o for o in plan.json()["offers"] if o["status"] == "pending"]

    offers = wait_until(lambda: len(pending() or []) == 2 and pending(), what="two offers")
    singer = next(o for o in offers if o["skill"] == "声乐")
    player = next(o for o in offers if o["skill"] == "器乐")
    r = crew[singer["volunteer_id"]].post(
        f"{base}/api/offers/{singer['offer_id']}/decline",
        json={"volunteer_id": singer["volunteer_id"], "reason": "当天加班"},
    )
    assert r.status_code == 200, r.text
    assert (
        crew[player["volunteer_id"]]
        .post(f"{base}/api/offers/{player['offer_id']}/accept", json={"volunteer_id": player["volunteer_id"]})
        .status_code
        == 200
    )
    cover = wait_until(lambda: [o for o in (pending() or []) if o["skill"] == "声乐"], what="the next singer's offer")[
        0
    ]
    assert cover["volunteer_id"] != singer["volunteer_id"]
    assert (
        crew[cover["volunteer_id"]]
        .post(f"{base}/api/offers/{cover['offer_id']}/accept", json={"volunteer_id": cover["volunteer_id"]})
        .status_code
        == 200
    )

    wait_until(lambda: http.get(f"{base}/api/orders/{oid}").json()["status"] == "scheduled", what="scheduled")
    plan = http.get(f"{base}/api/orders/{oid}/plan").json()
    assert sorted(m["volunteer_id"] for m in plan["crew"]) == sorted([player["volunteer_id"], cover["volunteer_id"]])
    # the player's calendar app subscribes to the feed address, with no sign-in
    link = crew[player["volunteer_id"]].get(f"{base}/api/volunteers/{player['volunteer_id']}/calendar").json()
    feed = requests.get(link["url"], timeout=10)
    assert feed.status_code == 200 and feed.headers["Content-Type"].startswith("text/calendar")
    (event,) = [c for c in Calendar.from_ical(feed.content).walk("VEVENT")]
    assert str(event["uid"]) == f"{player['offer_id']}@songwenhua"
    assert event.decoded("dtstart") == dt.datetime.fromisoformat(plan["start"])
    assert requests.get(link["url"].replace(".ics", "0.ics"), timeout=10).status_code == 404
    code = plan["sign_in_code"]
    assert len(code) == 6
    for member in plan["crew"]:
        body = {"volunteer_id": member["volunteer_id"]}
        phone = crew[member["volunteer_id"]]
        early = phone.post(f"{base}/api/orders/{oid}/check-in", json={**body, "code": code})  # days ahead
        assert early.status_code == 409 and early.json()["code"] == "CHECK_IN_NOT_OPEN"
        assert re.fullmatch(r"签到将于 \d+ 月 \d+ 日 \d\d:\d\d 开放。", early.json()["message"])
        wrong = phone.post(
            f"{base}/api/orders/{oid}/check-in",
            json={**body, "at": plan["start"], "code": "000000" if code != "000000" else "1"},
        )
        assert wrong.status_code == 409 and wrong.json()["code"] == "BAD_SIGN_IN_CODE"
        checked = phone.post(f"{base}/api/orders/{oid}/check-in", json={**body, "at": plan["start"], "code": code})
        assert checked.status_code == 200
        assert phone.post(f"{base}/api/orders/{oid}/check-out", json={**body, "at": plan["end"]}).status_code == 200
    done = http.post(f"{base}/api/orders/{oid}/complete", json={"people_served": 280, "at": plan["end"]})
    assert done.status_code == 200, done.text

    survey = wait_until(  # prepared when the order was scheduled, open once the delivery is recorded
        lambda: (
            (r := http.get(f"{base}/api/orders/{oid}/survey")).status_code == 200
            and r.json()["status"] == "open"
            and r.json()
        ),
        what="the survey open",
    )
    token = survey["token"]
    assert len(token) >= 22
    qr = union.get(f"{base}/api/orders/{oid}/survey/qr.svg")
    assert qr.status_code == 200 and qr.headers["Content-Type"].startswith("image/svg+xml")
    assert b"<svg" in qr.content and token.encode() not in qr.content  # the link is drawn, not written
    for overall in (5, 4, 4):
        r = audience.post(
            f"{base}/api/surveys/{token}/responses",
            json={"overall": overall, "performers": 5, "comment": "节目很精彩", "wanted_programs": ["八段锦"]},
        )
        assert r.status_code == 202, r.text
    assert http.post(f"{base}/api/orders/{oid}/survey/close").status_code == 200

    wait_until(lambda: http.get(f"{base}/api/orders/{oid}").json()["status"] == "closed", what="closed")
    order = union.get(f"{base}/api/orders/{oid}").json()
    assert order["satisfaction"] == pytest.approx(4.33, abs=0.01)
    assert order["people_served"] == 280 and order["responses"] == 3
    assert [h["status"] for h in order["history"]] == ["submitted", "accepted", "scheduled", "delivered", "closed"]
    assert audience.post(f"{base}/api/surveys/{token}/responses", json={"overall": 1}).status_code == 409

    # the bus saw each step of the flow, once
    spy.wait_for("orders", "order_closed")
    seen = [t for t in spy.types()]
    for kind, count in {
        "orders.order_placed": 1,
        "orders.order_accepted": 1,
        "dispatch.offer_made": 3,
        "dispatch.offer_declined": 1,
        "dispatch.offer_accepted": 2,
        "dispatch.order_scheduled": 1,
        "dispatch.delivery_completed": 1,
        "feedback.survey_opened": 1,
        "feedback.response_received": 3,
        "feedback.survey_closed": 1,
        "orders.order_closed": 1,
    }.items():
        assert seen.count(kind) == count, (kind, seen)
    assert (
        seen.index("orders.order_placed")
        < seen.index("dispatch.offer_made")
        < seen.index("dispatch.order_scheduled")
        < seen.index("dispatch.delivery_completed")
        < seen.index("feedback.survey_closed")
        < seen.index("orders.order_closed")
    )
    completed = next(p for s, t, p in spy.events if t == "delivery_completed")
    assert sorted(v["hours"] for v in completed["volunteers"]) == [2.0, 2.0]

    # each service's own database holds its part, and every outbox is drained
    orders_db, dispatch_db, feedback_db = (mongo[f"{db_prefix}{n}"] for n in ("orders", "dispatch", "feedback"))
    assert orders_db.orders.find_one({"_id": oid})["status"] == "closed"
    assert dispatch_db.offers.count_documents({"order_id": oid, "status": "accepted"}) == 2
    assert dispatch_db.offers.count_documents({"order_id": oid, "status": "declined"}) == 1
    survey_doc = feedback_db.surveys.find_one({"order_id": oid})
    assert survey_doc["status"] == "closed"
    assert feedback_db.responses.count_documents({}) == 3
    for db in (orders_db, dispatch_db, feedback_db):  # published events leave within a second
        wait_until(lambda d=db: d.outbox.count_documents({}) == 0, what=f"{db.name} outbox drained")

    # the statistics saw it too: every event archived once, the numbers in the palace's dashboard
    reporting_db = mongo[f"{db_prefix}reporting"]
    wait_until(lambda: reporting_db.events.count_documents({}) >= len(spy.events), what="every event archived")
    assert reporting_db.events.count_documents({}) == len({p["event_id"] for _, _, p in spy.events})
    wait_until(lambda: reporting_db.pending.count_documents({}) == 0, what="every event counted")
    now = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).strftime("%Y-%m")
    # deliveries count in the month they happened, answers in the month they came
    period = {"start": min(order["scheduled_start"][:7], now), "end": max(order["scheduled_start"][:7], now)}
    report = http.get(f"{base}/api/reports/dashboard", params=period).json()
    totals = report["totals"]
    assert totals["deliveries"] == 1 and totals["people_served"] == 280 and totals["responses"] == 3
    assert totals["satisfaction"] == pytest.approx(4.33, abs=0.01)
    assert (
        totals["orders_closed"] == 1
        and totals["offers"] == 3
        and totals["decline_rate"] == pytest.approx(1 / 3, abs=0.001)
    )
    board = http.get(f"{base}/api/reports/volunteers", params=period).json()["items"]
    assert sorted(r["hours"] for r in board if r["deliveries"]) == [2.0, 2.0]
    xlsx = http.get(f"{base}/api/reports/export.xlsx", params=period)
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"  # a zip: the xlsx container
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(xlsx.content))
    first = book[book.sheetnames[0]]
    assert first["A1"].value == "月份" and [c.value for c in first[first.max_row]][0] == "合计"
    assert [c.value for c in first[first.max_row]][1] == 1  # the deliveries column adds up to the one delivery
    pdf = http.get(f"{base}/api/reports/monthly.pdf", params={"month": period["end"]})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

    # who did what: each person's step in the audit log under their name and role, the system's
    # own steps (offers made, the order scheduled and closed) not among them
    def trail():
        r = http.get(f"{base}/api/audit", params={"subject_id": oid, "limit": "100"})
        assert r.status_code == 200, r.text
        return r.json()["entries"]

    wanted = {
        ("order_placed", "jingbian", "enterprise"),
        ("order_accepted", "dispatcher", "dispatcher"),
        ("offer_declined", singer["volunteer_id"], "volunteer"),
        ("offer_accepted", player["volunteer_id"], "volunteer"),
        ("offer_accepted", cover["volunteer_id"], "volunteer"),
        ("delivery_completed", "dispatcher", "dispatcher"),
    }

    def authored():
        return {(e["kind"], e["actor"]["username"], e["actor"]["role"]) for e in trail()}

    wait_until(lambda: wanted <= authored(), what="every decision of the journey in the audit log")
    entries = trail()
    assert not {"offer_made", "order_scheduled", "order_closed"} & {e["kind"] for e in entries}
    assert all(e["actor"]["address"] == "127.0.0.1" for e in entries)
    assert union.get(f"{base}/api/audit").status_code == 403

    # a copy of one's own data, gathered from every service: the player's and the union's
    import zipfile

    from openpyxl import load_workbook

    def copy_of(session) -> dict:
        r = session.get(f"{base}/api/me/data")
        assert r.status_code == 200 and r.headers["Content-Type"] == "application/zip", r.text[:300]
        archive = zipfile.ZipFile(io.BytesIO(r.content))
        assert sorted(archive.namelist()) == ["data.json", "我的数据.xlsx", "说明.txt"]
        sheets = load_workbook(io.BytesIO(archive.read("我的数据.xlsx"))).sheetnames
        return json.loads(archive.read("data.json")), sheets

    player_id = player["volunteer_id"]
    wait_until(  # the month rows are counted moments after the delivery's events are archived
        lambda: copy_of(crew[player_id])[0]["reporting"]["volunteer_months"], what="the player's month in reporting"
    )
    mine, sheets = copy_of(crew[player_id])
    assert mine["person"]["volunteer_id"] == player_id
    assert [a["_id"] for a in mine["accounts"]["account"]] == [player_id]
    assert "password_hash" not in json.dumps(mine)
    assert mine["dispatch"]["volunteer"][0]["phone"]
    assert {o["_id"] for o in mine["dispatch"]["offers"]} == {player["offer_id"]}
    assert [h["hours"] for d in mine["dispatch"]["deliveries"] for h in d["hours"]] == [2.0]
    assert mine["notifications"]["notifications"]  # the offer and its reminders
    assert {e["type"] for e in mine["reporting"]["events"]} >= {"offer_made", "offer_accepted", "delivery_completed"}
    assert {e["kind"] for e in mine["audit"]["by_me"]} == {"offer_accepted"}
    assert mine["feedback"] == {} and mine["orders"] == {}
    assert {"账号", "志愿者档案", "邀约", "服务记录", "消息", "统计存档中的事件", "我的操作记录"} <= set(sheets)
    theirs, _ = copy_of(union)
    assert [o["_id"] for o in theirs["orders"]["orders"]] == [oid] and theirs["orders"]["enterprise"]
    assert theirs["dispatch"] == {} and theirs["reporting"] == {}
