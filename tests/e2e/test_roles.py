"""Every endpoint, tried as every kind of caller: who gets an answer, who is refused (401/403),
and what the business says to those who may ask (200, 400, 404, 409). Volunteers' phone
numbers never reach an enterprise."""

import datetime as dt
import re

import pytest
import requests
from nameko.standalone.rpc import ClusterRpcProxy

from tests.helpers import wait_until

pytestmark = pytest.mark.e2e
CST = dt.timezone(dt.timedelta(hours=8))
PASSWORD = "roles-password"
PHONE = "13911112222"
WHO = ("anon", "ent_a", "ent_b", "vol", "disp1", "disp2", "admin")


@pytest.fixture(scope="module")
def world(module_system):
    base, config = module_system
    day = dt.datetime.now(CST).date() + dt.timedelta(days=4)
    start = dt.datetime.combine(day, dt.time(9), CST)
    with ClusterRpcProxy(config, timeout=30) as rpc:
        for pid, name in (("haining", "海宁市工人文化宫"), ("qingdao", "青岛市工人文化宫")):
            rpc.dispatch.upsert_palace({"palace_id": pid, "name": name, "district": "海宁"})
        rpc.dispatch.upsert_program(
            {
                "program_id": "talk",
                "palace_id": "haining",
                "title": "职工心理健康讲座",
                "kind": "talk",
                "duration_minutes": 90,
                "needs": [{"skill": "心理咨询", "count": 1}],
            }
        )
        rpc.dispatch.upsert_volunteer(
            {
                "volunteer_id": "v1",
                "palace_id": "haining",
                "name": "李老师",
                "phone": PHONE,
                "skills": ["心理咨询"],
                "district": "海宁",
                "availability": [{"start": start.isoformat(), "end": (start + dt.timedelta(hours=10)).isoformat()}],
            }
        )
        for eid, name in (("ent_a", "经编园区工会"), ("ent_b", "皮革城工会")):
            rpc.orders.register_enterprise(
                {"enterprise_id": eid, "palace_id": "haining", "name": name, "district": "海宁"}
            )
        users = [
            {"username": "ent_a", "role": "enterprise", "palace_id": "haining", "enterprise_id": "ent_a"},
            {"username": "ent_b", "role": "enterprise", "palace_id": "haining", "enterprise_id": "ent_b"},
            {"username": "vol", "role": "volunteer", "palace_id": "haining", "volunteer_id": "v1"},
            {"username": "disp1", "role": "dispatcher", "palace_id": "haining"},
            {"username": "disp2", "role": "dispatcher", "palace_id": "qingdao"},
            {"username": "admin", "role": "admin"},
        ]
        for user in users:
            rpc.accounts.create_user({**user, "password": PASSWORD})
    sessions = {"anon": requests.Session()}
    for user in users:
        session = requests.Session()
        r = session.post(f"{base}/api/login", json={"username": user["username"], "password": PASSWORD})
        assert r.status_code == 200, r.text
        session.headers["Authorization"] = f"Bearer {r.json()['token']}"
        sessions[user["username"]] = session
    window = [{"start": start.isoformat(), "end": (start + dt.timedelta(hours=4)).isoformat()}]
    order = {
        "program_id": "talk",
        "site_address": "一号车间",
        "district": "海宁",
        "audience_size": 40,
        "windows": window,
        "contact_name": "王芳",
        "contact_phone": "0573-1234567",
    }
    a = sessions["ent_a"].post(f"{base}/api/orders", json=order).json()["order_id"]
    c = sessions["ent_a"].post(f"{base}/api/orders", json=order).json()["order_id"]
    assert sessions["disp1"].post(f"{base}/api/orders/{a}/accept", json={}).status_code == 200
    assert sessions["disp1"].post(f"{base}/api/orders/{c}/reject", json={"reason": "满了"}).status_code == 200

    def offered():
        r = sessions["disp1"].get(f"{base}/api/orders/{a}/plan")
        return r.status_code == 200 and r.json()["offers"]

    offer = wait_until(offered, what="the offer to v1")[0]
    return base, sessions, {"A": a, "C": c, "OFFER": offer["offer_id"]}


def row(method, path, body=None, default=403, **codes):
    """Expected status per caller; `anon` is 401 unless said otherwise, others `default`."""
    expected = {who: default for who in WHO}
    expected["anon"] = 401
    expected.update(codes)
    return method, path, body, expected


EVERYONE = {w: 200 for w in WHO if w != "anon"}
TABLE = [
    row("GET", "/healthz", anon=200, **EVERYONE),
    row("GET", "/openapi.json", anon=200, **EVERYONE),
    row("GET", "/metrics", anon=200, **EVERYONE),
    row("GET", "/api/me", **EVERYONE),
    row("GET", "/api/palaces", **EVERYONE),
    row("POST", "/api/register", {}, anon=400, **{w: 400 for w in WHO if w != "anon"}),
    row("POST", "/api/password", {}, **{w: 400 for w in WHO if w != "anon"}),
    row("POST", "/api/accounts/nobody/password-reset", disp1=404, disp2=404, admin=404),
    row("POST", "/api/password-reset", {}, anon=400, **{w: 400 for w in WHO if w != "anon"}),
    row("GET", "/api/registrations", disp1=200, disp2=200, admin=200),
    row("GET", "/api/accounts?q=vol", disp1=200, disp2=200, admin=200),
    row("POST", "/api/claim", {}, anon=400, **{w: 400 for w in WHO if w != "anon"}),
    row("POST", "/api/volunteers/v1/invitation", disp1=409, admin=409),  # v1 has an account: nothing to claim
    row("GET", "/api/palaces/haining/invitations", disp1=200, admin=200),
    row("POST", "/api/registrations/nobody/approve", {}, disp1=404, disp2=404, admin=404),
    row("POST", "/api/registrations/nobody/reject", {"reason": "不符合"}, disp1=404, disp2=404, admin=404),
    row("GET", "/api/programs", **EVERYONE),
    row("GET", "/api/programs/talk", **EVERYONE),
    row("GET", "/api/enterprises", disp1=200, disp2=200, admin=200),
    row("GET", "/api/enterprises?palace_id=haining", disp1=200, admin=200),
    row("GET", "/api/enterprises/ent_a", ent_a=200, disp1=200, admin=200),
    row("GET", "/api/troupes", disp1=200, disp2=200, admin=200),
    row("GET", "/api/volunteers", disp1=200, disp2=200, admin=200),
    row("GET", "/api/volunteers/v1", vol=200, disp1=200, admin=200),
    row("GET", "/api/volunteers/v1/offers", vol=200, disp1=200, admin=200),
    row("GET", "/api/volunteers/v1/calendar", vol=200, disp1=200, admin=200),
    row("GET", "/ics/v1.0123456789abcdef0123456789abcdef.ics", anon=404, **{w: 404 for w in WHO if w != "anon"}),
    row("PUT", "/api/volunteers/v1/availability", {"availability": "每天"}, vol=400, disp1=400, admin=400),
    row("POST", "/api/offers/nope/accept", {}, vol=404),
    row("POST", "/api/offers/nope/decline", {}, vol=404),
    # a dispatcher (an admin) may order for a union of their palace: without one named it is a 400
    row("POST", "/api/orders", {}, ent_a=400, ent_b=400, disp1=400, disp2=400, admin=400),
    row("POST", "/api/orders", {"enterprise_id": "ent_a", "urgent": True}, ent_a=400, ent_b=400, disp1=400, admin=400),
    row(
        "POST", "/api/orders/recurring", {"rrule": "FREQ=WEEKLY"}, ent_a=400, ent_b=400, disp1=400, disp2=400, admin=400
    ),
    row("GET", "/api/orders", ent_a=200, ent_b=200, disp1=200, disp2=200, admin=200),
    row("GET", "/api/orders?enterprise_id=ent_a", ent_a=200, disp1=200, disp2=200, admin=200),
    row("GET", "/api/orders?palace_id=haining", ent_a=200, ent_b=200, disp1=200, admin=200),
    row("GET", "/api/orders/{A}", ent_a=200, disp1=200, admin=200),
    row("PATCH", "/api/orders/{A}", {}, ent_a=400),
    row("POST", "/api/orders/{C}/cancel", {}, ent_a=409),
    row("POST", "/api/orders/{C}/accept", {}, disp1=409, admin=409),
    row("POST", "/api/orders/{C}/reject", {"reason": "再次拒绝"}, disp1=409, admin=409),
    row("POST", "/api/orders/{A}/confirm", {}, ent_a=409),
    row("GET", "/api/orders/{A}/plan", ent_a=200, vol=200, disp1=200, admin=200),
    row("GET", "/api/orders/{C}/plan", ent_a=404, disp1=404, admin=404),
    row("POST", "/api/orders/{A}/check-in", {"volunteer_id": "v1"}, vol=409, disp1=409, admin=409),
    row("POST", "/api/orders/{A}/check-out", {"volunteer_id": "v1"}, vol=409, disp1=409, admin=409),
    row("POST", "/api/orders/{A}/complete", {"people_served": 10}, disp1=409, admin=409),
    row("GET", "/api/orders/{A}/survey", ent_a=404, disp1=404, admin=404),
    row("POST", "/api/orders/{A}/survey/close", {}, disp1=404, admin=404),
    row("GET", "/api/orders/{A}/survey/qr.svg", ent_a=404, disp1=404, admin=404),
    row("GET", "/api/orders/unknown", ent_a=404, ent_b=404, disp1=404, disp2=404, admin=404),
    row("PUT", "/api/palaces/haining", {"name": ""}, disp1=400, admin=400),
    row("POST", "/api/palaces/haining/replan", {}, disp1=400, admin=400),
    row("GET", "/api/no-shows?palace_id=haining", disp1=200, admin=200),
    row("GET", "/api/palaces/haining/board", disp1=200, admin=200),
    row(
        "GET",
        "/api/palaces/haining/deliveries?start=2026-12-01T00:00:00+08:00&end=2026-12-31T00:00:00+08:00",
        disp1=200,
        admin=200,
    ),
    row("GET", "/api/palaces/haining/deliveries", disp1=400, admin=400),
    row("GET", "/api/no-shows", disp1=200, disp2=200, admin=400),
    row("POST", "/api/no-shows/nope/clear", {"reason": "误报"}, disp1=404, disp2=404, admin=404),
    row("POST", "/api/offers/nope/swap", {"to_volunteer_id": "v1"}, vol=404),
    row("POST", "/api/orders/{A}/plan/assign", {"volunteer_id": "v1", "skill": "心理咨询"}, disp1=409, admin=409),
    row("POST", "/api/orders/{A}/no-show", {"volunteer_id": "v1", "reason": "没来"}, disp1=409, admin=409),
    row("POST", "/api/orders/{A}/hours", {"volunteer_id": "v1", "hours": 1, "reason": "补记"}, disp1=409, admin=409),
    row("PUT", "/api/programs/talk", {"title": ""}, disp1=400, admin=400),
    row("PUT", "/api/programs/new-one", {"title": ""}, disp1=400, disp2=400, admin=400),
    row("PUT", "/api/troupes/new-one", {"name": ""}, disp1=400, disp2=400, admin=400),
    row("PUT", "/api/volunteers/v1", {"name": ""}, disp1=400, admin=400),
    row("GET", "/api/volunteers/v1/hours", vol=200, disp1=200, admin=200),
    row("GET", "/api/orders/{A}/sign-in/qr.svg", ent_a=409, disp1=409, admin=409),
    row("GET", "/api/orders/{A}/poster.pdf", ent_a=409, disp1=409, admin=409),
    row("GET", "/api/reports/dashboard", disp1=200, disp2=200, admin=200),
    row("GET", "/api/reports/dashboard?palace_id=haining", disp1=200, admin=200),
    row("GET", "/api/reports/dashboard?start=2026-13", disp1=400, disp2=400, admin=400),
    row("GET", "/api/reports/volunteers", disp1=200, disp2=200, admin=200),
    row("GET", "/api/reports/coverage?months=6", disp1=200, disp2=200, admin=200),
    row("GET", "/api/reports/comments", disp1=200, disp2=200, admin=200),
    row("GET", "/api/reports/export.xlsx", disp1=200, disp2=200, admin=200),
    row("GET", "/api/reports/monthly.pdf", disp1=200, disp2=200, admin=200),
    row("GET", "/api/volunteers/v1/certificate.pdf", vol=200, disp1=200, admin=200),
    row("POST", "/api/reports/rebuild", {}, admin=200),
    row("GET", "/api/surveys/not-a-token", anon=404, **{w: 404 for w in WHO if w != "anon"}),
    row("GET", "/api/notifications", **EVERYONE),
    row("GET", "/api/notifications?limit=0", **{w: 400 for w in WHO if w != "anon"}),
    row("POST", "/api/notifications/nope/read", {}, **{w: 404 for w in WHO if w != "anon"}),
    row("POST", "/api/notifications/read-all", {}, **EVERYONE),
    row("GET", "/api/notifications/preferences", **EVERYONE),
    row("PUT", "/api/notifications/preferences", {"email": "不是邮箱"}, **{w: 400 for w in WHO if w != "anon"}),
    row("GET", "/api/alliances", disp1=200, disp2=200, admin=200),
    row("POST", "/api/alliances", {"name": "联盟"}, admin=400),
    row("GET", "/api/alliances/troupes", disp1=200, disp2=200, admin=400),
    row("PUT", "/api/troupes/nope/sharing", {"shared": True}, disp1=404, disp2=404, admin=404),
    row("GET", "/api/loans", disp1=200, disp2=200, admin=400),
    row("GET", "/api/loans?palace_id=haining", disp1=200, admin=200),
    row("POST", "/api/loans", {}, disp1=400, disp2=400),
    row("POST", "/api/loans/nope/approve", {}, disp1=404, disp2=404, admin=404),
    row("POST", "/api/loans/nope/refuse", {"reason": "不借"}, disp1=404, disp2=404, admin=404),
    row("GET", "/api/palaces/haining/imports/volunteers/template", disp1=200, admin=200),
    row("GET", "/api/palaces/haining/imports/nothing/template", disp1=400, admin=400),
    # a JSON object is no spreadsheet
    row("POST", "/api/palaces/haining/imports/troupes/preview", {}, disp1=400, admin=400),
    row("POST", "/api/palaces/haining/imports/programs/confirm", {"preview_id": "nope"}, disp1=404, admin=404),
    row("POST", "/api/palaces/haining/imports/programs/confirm", {}, disp1=400, admin=400),
    row("GET", "/api/palaces/haining/exports/volunteers", disp1=200, admin=200),
    row("GET", "/api/palaces/haining/exports/enterprises", disp1=200, admin=200),
    row("GET", "/api/audit", disp1=200, disp2=200, admin=200),
    row("GET", "/api/audit?palace_id=haining", disp1=200, admin=200),
    row("GET", "/api/audit?since=2026-13-01", disp1=400, disp2=400, admin=400),
    row("GET", "/api/audit/kinds", disp1=200, disp2=200, admin=200),
    row("GET", "/api/me/data", **EVERYONE),
    row("GET", "/api/privacy", anon=200, **EVERYONE),
    row("GET", "/api/palaces/haining/staffable-windows", ent_a=400, ent_b=400, disp1=400, admin=400),
    row("PUT", "/api/privacy", {}, admin=400),
    row("POST", "/api/privacy/consent", {}, **{w: 400 for w in WHO if w != "anon"}),
    row("GET", "/api/volunteers/v1/lending", vol=200, disp1=200, admin=200),
    row("PUT", "/api/volunteers/v1/lending", {"allowed": True}, vol=200),
    row("GET", "/api/audit/export?palace_id=haining", disp1=200, admin=200),
    row("GET", "/api/me/erasure", **EVERYONE),
    row("POST", "/api/me/erasure", **{w: 201 for w in WHO if w != "anon"}),
    row("POST", "/api/me/erasure/cancel", **EVERYONE),
    row("POST", "/api/me/erasure/cancel", **{w: 404 for w in WHO if w != "anon"}),
    row("POST", "/api/accounts/nobody/erasure", disp1=404, disp2=404, admin=404),
    # a dispatcher records it for an account of their palace; the admin sees it already recorded
    row("POST", "/api/accounts/ent_b/erasure", disp1=201, admin=201),
    row("POST", "/api/accounts/ent_b/erasure/cancel", disp1=200, admin=404),
    row("GET", "/api/erasures", disp1=200, disp2=200, admin=200),
    row("GET", "/api/erasures?palace_id=haining&status=cancelled", disp1=200, admin=200),
    row("GET", "/api/erasures?status=gone", disp1=400, disp2=400, admin=400),
    row("GET", "/api/retention", disp1=200, disp2=200, admin=200),
    row("POST", "/api/retention/sweep", admin=200),
]


@pytest.mark.parametrize("method, path, body, expected", TABLE, ids=[f"{m} {p}" for m, p, _, _ in TABLE])
def test_each_caller_gets_the_answer_its_role_allows(world, method, path, body, expected):
    base, sessions, ids = world
    url = base + path.format(**ids)
    got = {}
    for who in WHO:
        kwargs = {"json": body} if body is not None else {}
        r = sessions[who].request(method, url, timeout=30, **kwargs)
        got[who] = r.status_code
        if r.status_code >= 400:
            assert r.headers["Content-Type"].startswith("application/json") and r.json()["message"]
        if who.startswith("ent") and r.status_code < 300:
            assert PHONE not in r.text, f"{method} {path} shows a volunteer's phone to {who}"
    assert got == expected


def test_a_dispatcher_cannot_list_another_palaces_orders_by_asking(world):
    base, sessions, ids = world
    listed = sessions["disp2"].get(f"{base}/api/orders").json()
    assert listed["total"] == 0
    assert sessions["disp2"].get(f"{base}/api/orders?palace_id=haining").status_code == 403
    assert sessions["ent_b"].get(f"{base}/api/orders").json()["total"] == 0
    mine = sessions["ent_a"].get(f"{base}/api/orders").json()
    assert {o["order_id"] for o in mine["items"]} == {ids["A"], ids["C"]}


def test_a_wrong_password_or_a_forged_token_is_refused(world):
    base, sessions, _ = world
    r = requests.post(f"{base}/api/login", json={"username": "ent_a", "password": "guess"})
    assert r.status_code == 401 and r.json()["code"] == "BAD_CREDENTIALS"
    r = requests.get(f"{base}/api/me", headers={"Authorization": "Bearer forged"})
    assert r.status_code == 401
    session = requests.Session()
    token = session.post(f"{base}/api/login", json={"username": "ent_b", "password": PASSWORD}).json()["token"]
    session.headers["Authorization"] = f"Bearer {token}"
    assert session.get(f"{base}/api/me").json()["role"] == "enterprise"
    assert session.post(f"{base}/api/logout").status_code == 200
    assert session.get(f"{base}/api/me").status_code == 401


def test_the_planners_reasons_are_shown_to_dispatchers_and_only_their_own_score_to_a_volunteer(world):
    base, sessions, ids = world
    staff = sessions["disp1"].get(f"{base}/api/orders/{ids['A']}/plan").json()
    assert staff["explanation"]["roles"][0]["skill"] == "心理咨询"
    assert "runners_up" in staff["offers"][0]["explanation"]
    assert staff["phones"] == {"v1": PHONE}  # the dispatcher calls the crew on the day
    enterprise = sessions["ent_a"].get(f"{base}/api/orders/{ids['A']}/plan").json()
    assert enterprise["explanation"] is None and all(o["explanation"] is None for o in enterprise["offers"])
    assert enterprise["phones"] == {}
    assert sessions["vol"].get(f"{base}/api/orders/{ids['A']}/plan").json()["phones"] == {}
    mine = sessions["vol"].get(f"{base}/api/volunteers/v1/offers").json()
    assert mine and set(mine[0]["explanation"]) == {"score"} and mine[0]["explanation"]["score"]["criteria"]


def test_the_board_counts_orders_by_status_and_shows_offers_waiting(world):
    base, sessions, ids = world
    board = sessions["disp1"].get(f"{base}/api/palaces/haining/board").json()
    assert board["orders"]["accepted"] == 1 and board["orders"]["rejected"] == 1
    assert board["offers_pending"] == 1  # the offer to v1, due in a day
    assert board["offers_due_soon"] == []


def test_each_person_sees_only_their_own_notifications(world):
    base, sessions, ids = world

    def inbox(who):
        return sessions[who].get(f"{base}/api/notifications").json()["items"]

    # order A accepted and C rejected (the enterprise), both placed (the palace), the offer (the volunteer)
    mine = wait_until(lambda: len(inbox("ent_a")) >= 2 and inbox("ent_a"), what="the enterprise told")
    assert {n["order_id"] for n in mine} >= {ids["A"], ids["C"]}
    assert wait_until(lambda: [n for n in inbox("disp1") if n["kind"] == "orders"], what="the palace told")
    assert wait_until(lambda: [n for n in inbox("vol") if n["kind"] == "offer"], what="the volunteer told")

    # (each was told of their own account's closure request, which the table above made and cancelled)
    def about_orders(who):
        return [n for n in inbox(who) if n["kind"] != "account"]

    assert about_orders("ent_b") == [] and about_orders("disp2") == [] and about_orders("admin") == []
    for who in ("ent_b", "disp2", "vol", "admin"):
        r = sessions[who].post(f"{base}/api/notifications/{mine[0]['notification_id']}/read")
        assert r.status_code == 404
    assert all(PHONE not in n["body"] for n in inbox("ent_a"))


def test_troupes_are_lent_only_inside_an_alliance_and_only_the_owner_answers(world):
    """Runs last: it puts both palaces of this module in one alliance."""
    base, sessions, ids = world
    disp1, disp2, admin = sessions["disp1"], sessions["disp2"], sessions["admin"]
    r = disp2.put(
        f"{base}/api/troupes/q-opera", json={"name": "青岛越剧队", "district": "市南", "members": [], "repertoire": []}
    )
    assert r.status_code == 200, r.text
    r = disp2.put(f"{base}/api/troupes/q-opera/sharing", json={"shared": True})
    assert r.status_code == 409 and r.json()["code"] == "NO_ALLIANCE"  # no alliance yet
    assert disp1.get(f"{base}/api/alliances/troupes").json() == []  # outside any alliance: nothing
    loan = {"order_id": ids["A"], "troupe_id": "q-opera"}
    r = disp1.post(f"{base}/api/loans", json=loan)
    assert r.status_code == 403 and r.json()["message"] == "这支队伍没有向本联盟共享。"
    assert (
        disp1.post(f"{base}/api/alliances", json={"name": "联盟", "palace_ids": ["haining", "qingdao"]}).status_code
        == 403
    )
    r = admin.post(f"{base}/api/alliances", json={"name": "文化宫联盟", "palace_ids": ["haining", "qingdao"]})
    assert r.status_code == 201, r.text
    assert [a["name"] for a in disp2.get(f"{base}/api/alliances").json()] == ["文化宫联盟"]
    assert disp1.put(f"{base}/api/troupes/q-opera/sharing", json={"shared": True}).status_code == 403  # not theirs
    assert disp2.put(f"{base}/api/troupes/q-opera/sharing", json={"shared": True}).status_code == 200
    shared = disp1.get(f"{base}/api/alliances/troupes").json()
    assert [(t["troupe_id"], t["palace_name"]) for t in shared] == [("q-opera", "青岛市工人文化宫")]
    assert disp2.post(f"{base}/api/loans", json=loan).status_code == 403  # not disp2's order
    assert admin.post(f"{base}/api/loans", json=loan).status_code == 403  # a member palace asks
    r = disp1.post(f"{base}/api/loans", json=loan)
    assert r.status_code == 201, r.text
    loan_id = r.json()["loan_id"]
    assert disp1.post(f"{base}/api/loans/{loan_id}/approve").status_code == 403  # only the owner answers
    assert [x["loan_id"] for x in disp2.get(f"{base}/api/loans").json()["incoming"]] == [loan_id]
    r = disp2.post(f"{base}/api/loans/{loan_id}/refuse", json={})
    assert r.status_code == 400
    r = disp2.post(f"{base}/api/loans/{loan_id}/refuse", json={"reason": "队伍那天有演出"})
    assert r.status_code == 200 and r.json()["status"] == "refused"
    assert disp1.get(f"{base}/api/loans").json()["outgoing"][0]["status"] == "refused"


ROLE_OF = {"anon": None, "ent_a": "enterprise", "ent_b": "enterprise", "vol": "volunteer"}
ROLE_OF |= {"disp1": "dispatcher", "disp2": "dispatcher", "admin": "admin"}
UNTRIED = {
    ("POST", "/api/login"),  # sign-in and -out would change the sessions above; tested below
    ("POST", "/api/logout"),
    ("POST", "/api/logout-all"),  # ends every session of the caller: tests/e2e/test_accounts_security.py
    ("POST", "/api/surveys/{token}/responses"),  # the audience's, rate-limited per client: test_api_fuzz
}


def roles_found(doc: dict, table: list) -> dict:
    """For each operation of the document, the answers the table expects, by caller."""
    operations = {(m.upper(), path) for path, ops in doc["paths"].items() for m in ops}

    def operation(method: str, path: str) -> tuple[str, str] | None:
        bare = path.split("?")[0].format(A="a", C="c")
        found = [k for k in operations if k[0] == method and re.fullmatch(re.sub(r"{\w+}", "[^/]+", k[1]), bare)]
        return min(found, key=lambda k: k[1].count("{"), default=None)  # a fixed path before a template

    found: dict = {}
    for method, path, _, expected in table:
        if operation(method, path) is None:  # not in the document: /openapi.json itself
            continue
        for who, status in expected.items():
            found.setdefault(operation(method, path), {}).setdefault(who, []).append(status)
    return found


def test_the_roles_of_the_api_document_are_those_the_table_finds(world):
    """The document's x-roles (declared on each route) against the table: a role it lists gets an
    answer other than 401/403 somewhere, one it does not list is always 403, and without a sign-in
    every operation but the public ones is a 401."""
    base, _, _ = world
    doc = requests.get(f"{base}/openapi.json").json()
    found = roles_found(doc, TABLE)
    declared = {(m.upper(), path): op["x-roles"] for path, ops in doc["paths"].items() for m, op in ops.items()}
    assert set(declared) - set(found) == UNTRIED
    for key, answers in found.items():
        roles = declared[key]
        for role in ("enterprise", "dispatcher", "volunteer", "admin"):
            got = [s for who, statuses in answers.items() if ROLE_OF[who] == role for s in statuses]
            if roles == ["anyone"] or role in roles:
                assert any(s not in (401, 403) for s in got), (key, role, got)
            else:
                assert set(got) == {403}, (key, role, got)
        assert (set(answers["anon"]) == {401}) == (roles != ["anyone"]), (key, answers["anon"])
