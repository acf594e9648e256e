"""Passwords changed and reset, signing out everywhere, and sign-in throttling, through two
gateway processes of one system: what one process counts, locks or ends holds on the other. And
volunteers' claim codes: sent by SMS (a webhook sink here) on an import and on a volunteer added,
claimed once, refused used, expired or replaced by one sent again."""

import datetime as dt
import json
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import requests
from nameko.standalone.rpc import ClusterRpcProxy
from pymongo import MongoClient

from tests.helpers import BusSpy, wait_until
from tests.servers import another_gateway, forget_databases, free_port, running_system

pytestmark = pytest.mark.e2e
PASSWORD = "security-password"
NEW = "another-good-password"


@pytest.fixture(scope="module")
def sms():
    """An SMS gateway: what the notifications webhook posts to it."""
    calls: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            calls.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/sms", calls
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def module_system(request, vhost_pipeline, mongo_uri, sms):
    """The system of this module, with its notifications reaching phones through the SMS sink."""
    from urllib.parse import urlparse

    uri = urlparse(request.config.getoption("RABBIT_AMQP_URI"))
    prefix = f"m{uuid.uuid4().hex[:8]}_"
    with vhost_pipeline.get() as vhost:
        amqp_uri = f"{uri.scheme}://{uri.netloc}/{vhost}"
        with running_system(amqp_uri, mongo_uri, prefix, WEBHOOK_URL=sms[0], WEBHOOK_SECRET="e2e") as base:
            yield base, {"AMQP_URI": amqp_uri, "DB_PREFIX": prefix}
    forget_databases(mongo_uri, prefix)


@pytest.fixture(scope="module")
def gateways(module_system, mongo_uri):
    base, config = module_system
    with ClusterRpcProxy(config, timeout=30) as rpc:
        districts = [{"name": "海宁", "lat": 30.5, "lon": 120.6}]
        rpc.dispatch.upsert_palace(
            {"palace_id": "haining", "name": "海宁市工人文化宫", "district": "海宁", "districts": districts}
        )
        users = [
            {"username": "vol", "role": "volunteer", "palace_id": "haining", "volunteer_id": "v1"},
            {"username": "disp", "role": "dispatcher", "palace_id": "haining"},
            {"username": "disp-q", "role": "dispatcher", "palace_id": "qingdao"},
            {"username": "inviter", "role": "dispatcher", "palace_id": "haining"},
            {"username": "locked-one", "role": "volunteer", "palace_id": "haining", "volunteer_id": "v2"},
            {"username": "lucky-one", "role": "volunteer", "palace_id": "haining", "volunteer_id": "v3"},
            {"username": "out-all", "role": "volunteer", "palace_id": "haining", "volunteer_id": "v4"},
        ]
        for user in users:
            rpc.accounts.create_user({**user, "password": PASSWORD})
    client = MongoClient(mongo_uri, tz_aware=True)
    db = client[f"{config['DB_PREFIX']}accounts"]
    with another_gateway(config["AMQP_URI"], mongo_uri, config["DB_PREFIX"]) as other:
        yield base, other, db
    client.close()


@pytest.fixture(scope="module")
def databases(module_system, mongo_uri):
    client = MongoClient(mongo_uri, tz_aware=True)
    prefix = module_system[1]["DB_PREFIX"]
    yield lambda name: client[f"{prefix}{name}"]
    client.close()


def sign_in(base, username, password=PASSWORD, **kw):
    return requests.post(f"{base}/api/login", json={"username": username, "password": password}, timeout=10, **kw)


def bearer(base, username, password=PASSWORD):
    r = sign_in(base, username, password)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def me(base, headers) -> int:
    return requests.get(f"{base}/api/me", headers=headers, timeout=10).status_code


def ended_everywhere(bases, tokens):
    return wait_until(
        lambda: all(me(b, t) == 401 for b in bases for t in tokens), what="the old sessions refused everywhere"
    )


def test_a_change_needs_the_old_password_and_a_strong_one_then_every_session_ends(gateways):
    one, two, _ = gateways
    first, second = bearer(one, "vol"), bearer(two, "vol")
    assert me(one, first) == 200 and me(two, second) == 200 and me(two, first) == 200  # both kept in memory
    r = requests.post(f"{one}/api/password", json={"old_password": "wrong-old-one", "new_password": NEW}, headers=first)
    assert r.status_code == 400 and r.json()["fields"] == {"old_password": ["原密码不对。"]}
    r = requests.post(f"{one}/api/password", json={"old_password": PASSWORD, "new_password": "88888888"}, headers=first)
    assert r.status_code == 400 and r.json()["fields"] == {"new_password": ["密码至少要 10 个字符。"]}
    weak = {"old_password": PASSWORD, "new_password": "woaini1314"}
    r = requests.post(f"{one}/api/password", json=weak, headers={**first, "Accept-Language": "en"})
    assert r.status_code == 400
    assert r.json()["fields"] == {
        "new_password": ["This password is too common and easy to guess; please choose another."]
    }
    r = requests.post(f"{one}/api/password", json={"old_password": PASSWORD, "new_password": NEW}, headers=first)
    assert r.status_code == 200 and r.json() == {"status": "ok", "sessions_ended": 2}
    ended_everywhere((one, two), (first, second))
    assert sign_in(two, "vol").status_code == 401
    assert sign_in(two, "vol", NEW).status_code == 200


def test_a_reset_link_from_the_palace_works_once_and_expires(gateways):
    one, two, db = gateways
    held = bearer(two, "disp")
    other_palace = bearer(one, "disp-q")
    assert requests.post(f"{one}/api/accounts/disp/password-reset", headers=other_palace).status_code == 403
    boss = bearer(one, "disp")  # a dispatcher of the same palace (the account's own, here)
    r = requests.post(f"{one}/api/accounts/disp/password-reset", headers=boss)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["link"] == f"{one}/reset?token={made['token']}"
    page = requests.get(made["link"], timeout=10)
    assert page.status_code == 200 and "重置密码" in page.text and 'name="new_password"' in page.text

    weak = requests.post(f"{two}/api/password-reset", json={"token": made["token"], "new_password": "disp"})
    assert weak.status_code == 400 and weak.json()["fields"]["new_password"] == ["密码至少要 10 个字符。"]
    r = requests.post(f"{two}/api/password-reset", json={"token": made["token"], "new_password": NEW})
    assert r.status_code == 200 and r.json()["sessions_ended"] == 2
    ended_everywhere((one, two), (held, boss))
    again = requests.post(f"{one}/api/password-reset", json={"token": made["token"], "new_password": NEW + "x"})
    assert again.status_code == 400 and again.json()["code"] == "RESET_TOKEN_INVALID"
    assert "无效、已用过或已过期" in again.json()["message"]
    assert sign_in(one, "disp", NEW).status_code == 200

    def told():  # the account hears of the link in its inbox (and on its channels), never the link
        inbox = requests.get(f"{one}/api/notifications", headers=bearer(one, "disp", NEW), timeout=10).json()
        return [n for n in inbox["items"] if n["kind"] == "account"]

    (notice,) = wait_until(told, what="the reset told to the account")
    assert notice["title"] == "密码重置" and "disp 为您的账号 disp 生成了重置密码的链接" in notice["body"]
    assert made["token"] not in str(notice)

    late = requests.post(f"{one}/api/accounts/disp/password-reset", headers=bearer(one, "disp", NEW)).json()
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    assert db.password_resets.update_one({"used_at": None}, {"$set": {"expires_at": past}}).modified_count == 1
    r = requests.post(f"{two}/api/password-reset", json={"token": late["token"], "new_password": "third-good-password"})
    assert r.status_code == 400 and r.json()["code"] == "RESET_TOKEN_INVALID"
    assert sign_in(one, "disp", NEW).status_code == 200


def test_sign_out_everywhere_ends_every_session_of_the_caller(gateways):
    one, two, _ = gateways
    a, b, someone_else = bearer(one, "out-all"), bearer(two, "out-all"), bearer(two, "lucky-one")
    assert me(one, b) == 200 and me(two, a) == 200
    r = requests.post(f"{two}/api/logout-all", headers=a)
    assert r.status_code == 200 and r.json() == {"status": "ok", "sessions_ended": 2}
    ended_everywhere((one, two), (a, b))
    assert me(one, someone_else) == 200


def _waited(db):
    """Move the last failures back a minute: the growing waits of the account and of the address
    (every test here signs in from 127.0.0.1) are over, without sleeping; a lock stays."""
    earlier = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    db.sign_in_throttles.update_many({}, {"$set": {"last_at": earlier}})


def test_failures_on_one_gateway_lock_the_account_on_the_other_and_say_when(gateways):
    one, two, db = gateways
    for n, base in enumerate((one, two, one, two), start=1):
        r = sign_in(base, "locked-one", "wrong-password", headers={"X-Forwarded-For": "203.0.113.9"})
        assert r.status_code == 401, (n, r.text)
        if n == 3:  # from the third on, the next try waits
            r = sign_in(two, "locked-one")
            assert r.status_code == 429 and r.headers["Retry-After"] == "1"
            assert r.json()["message"] == "登录尝试太频繁，请 1 秒后再试。"
        _waited(db)
    r = sign_in(two, "locked-one", "wrong-password")
    assert r.status_code == 429 and r.json()["code"] == "SIGN_IN_LOCKED"
    for base in (one, two):  # the right password waits too, on either process
        r = sign_in(base, "locked-one")
        assert r.status_code == 429 and r.json()["code"] == "SIGN_IN_LOCKED"
        assert 880 <= int(r.headers["Retry-After"]) <= 900
        assert r.json()["message"].startswith("登录失败次数太多，已暂时锁定，请在 ")
        assert r.json()["message"].endswith(" 之后再试。")
    until = db.sign_in_throttles.find_one({"_id": "account:locked-one"})["locked_until"]
    assert until.astimezone(dt.timezone(dt.timedelta(hours=8))).strftime("%H:%M") in r.json()["message"]
    english = sign_in(one, "locked-one", headers={"Accept-Language": "en"}).json()["message"]
    assert english.startswith("Too many failed sign-ins: locked for now. Please try again after ")
    # the gateway is behind no proxy of its own: the forwarded address is nobody's word
    assert db.sign_in_throttles.find_one({"_id": "client:127.0.0.1"}) is not None
    assert db.sign_in_throttles.find_one({"_id": "client:203.0.113.9"}) is None


def test_a_success_starts_the_accounts_count_again(gateways):
    one, two, db = gateways
    for base in (one, two, one):
        assert sign_in(base, "lucky-one", "wrong-password").status_code == 401
        _waited(db)
    assert sign_in(two, "lucky-one").status_code == 200
    assert db.sign_in_throttles.find_one({"_id": "account:lucky-one"}) is None
    for base in (one, two, one):
        assert sign_in(base, "lucky-one", "wrong-password").status_code == 401  # counted from one again
        _waited(db)


# ------------------------------------------------------------------ volunteers' claim codes

CODE = re.compile(r"\b([2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4})\b")


def texted(calls, phone, after=0):
    """The claim codes sent by SMS to ``phone`` (after the first ``after`` messages)."""
    return [CODE.search(c["body"]).group(1) for c in calls[after:] if c["to"] == phone and c["kind"] == "account"]


def claim(base, code, last4, username, password=NEW):
    body = {"code": code, "phone_last4": last4, "username": username, "password": password}
    return requests.post(f"{base}/api/claim", json=body, timeout=10)


def test_imported_volunteers_are_texted_a_code_that_claims_their_account_once(gateways, sms, databases, module_system):
    one, two, _ = gateways
    _, calls = sms
    spy = BusSpy(module_system[1], sources=("accounts", "notifications"))
    boss = bearer(one, "inviter")
    csv = "编号,姓名,手机号,特长,区域\r\nclaim-a,王芳,13800138000,声乐,海宁\r\nclaim-b,李强,13900003333,舞蹈,海宁\r\n"
    r = requests.post(
        f"{one}/api/palaces/haining/imports/volunteers/preview?filename=v.csv",
        data=csv.encode(),
        headers={**boss, "Content-Type": "text/csv"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    r = requests.post(
        f"{one}/api/palaces/haining/imports/volunteers/confirm",
        json={"preview_id": r.json()["preview_id"]},
        headers=boss,
        timeout=30,
    )
    assert r.status_code == 200 and r.json()["created"] == 2 and r.json()["invited"] == 2, r.text
    (code,) = wait_until(lambda: texted(calls, "13800138000"), what="the code texted to 王芳")
    sent = next(c for c in calls if c["to"] == "13800138000")
    assert "王芳您好：海宁市工人文化宫邀请您" in sent["body"] and sent["link"].endswith(
        f"/claim?code={code.replace('-', '')}"
    )
    page = requests.get(sent["link"].replace("http://127.0.0.1:8000", one), timeout=10)
    assert page.status_code == 200 and 'name="phone_last4"' in page.text

    assert claim(two, code, "0000", "wangfang").json()["code"] == "INVITATION_INVALID"
    weak = claim(two, code, "8000", "wangfang", "13800138000")
    assert weak.status_code == 400 and weak.json()["fields"] == {"password": ["密码不能是用户名或电话号码。"]}
    taken = claim(one, code, "8000", "vol")  # the code stays usable
    assert taken.status_code == 409 and taken.json()["fields"] == {"username": ["这个用户名已被使用。"]}
    r = claim(two, code.lower().replace("-", " "), "8000", "wangfang")  # as typed on a phone
    assert r.status_code == 201, r.text
    assert r.json()["principal"] == {**r.json()["principal"], "role": "volunteer", "volunteer_id": "claim-a"}
    signed = {"Authorization": f"Bearer {r.json()['token']}"}
    assert requests.get(f"{one}/api/volunteers/claim-a/offers", headers=signed, timeout=10).status_code == 200
    again = claim(one, code, "8000", "wangfang2")
    assert again.status_code == 400 and again.json()["code"] == "INVITATION_USED"
    assert again.json()["message"] == "这个邀请码已经用过了，请直接登录；忘记密码请联系文化宫调度员。"
    assert sign_in(one, "wangfang", NEW).status_code == 200

    states = {x["volunteer_id"]: x for x in requests.get(f"{one}/api/palaces/haining/invitations", headers=boss).json()}
    assert states["claim-a"]["status"] == "claimed" and states["claim-a"]["username"] == "wangfang"
    assert states["claim-b"]["status"] == "invited"
    assert requests.post(f"{one}/api/volunteers/claim-a/invitation", headers=boss).json()["code"] == "ALREADY_CLAIMED"

    # no code in clear in any event, nor in what is stored: the deliveries, the invitations
    spy.wait_for("accounts", "invitation_claimed")
    published = str(spy.drain())
    spy.close()
    kept = str(list(databases("notifications").deliveries.find())) + str(list(databases("accounts").invitations.find()))
    assert "invitations_issued" in published
    for shown in (code, code.replace("-", "")):
        assert shown not in published and shown not in kept


def test_a_code_sent_again_replaces_the_old_one_and_an_expired_one_is_refused(gateways, sms, databases):
    one, two, _ = gateways
    _, calls = sms
    boss = bearer(one, "inviter")
    volunteer = {"name": "赵磊", "phone": "13700001234", "skills": ["器乐"], "district": "海宁", "palace_id": "haining"}
    r = requests.put(f"{one}/api/volunteers/claim-c", json=volunteer, headers=boss, timeout=10)  # one by one
    assert r.status_code == 200, r.text
    (first,) = wait_until(lambda: texted(calls, "13700001234"), what="the code of a volunteer added by hand")
    made = requests.post(f"{two}/api/volunteers/claim-c/invitation", headers=boss, timeout=10)
    assert made.status_code == 201, made.text
    second = made.json()["code"]
    assert second != first and made.json()["link"] == f"{two}/claim?code={second.replace('-', '')}"
    assert wait_until(lambda: second in texted(calls, "13700001234"), what="the new code texted")
    old = claim(one, first, "1234", "zhaolei")
    assert old.status_code == 400 and old.json()["code"] == "INVITATION_EXPIRED"

    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    invitations = databases("accounts").invitations
    assert invitations.update_one(
        {"volunteer_id": "claim-c", "revoked_at": None}, {"$set": {"expires_at": past}}
    ).modified_count
    late = claim(two, second, "1234", "zhaolei", NEW)
    assert (
        late.status_code == 400 and late.json()["message"] == "这个邀请码已过期或已作废，请联系文化宫调度员重新发送。"
    )
    states = {x["volunteer_id"]: x for x in requests.get(f"{one}/api/palaces/haining/invitations", headers=boss).json()}
    assert states["claim-c"]["status"] == "expired"
    third = requests.post(f"{one}/api/volunteers/claim-c/invitation", headers=boss, timeout=10).json()["code"]
    assert claim(two, third, "1234", "zhaolei").status_code == 201
