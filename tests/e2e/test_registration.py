"""Enterprise unions and volunteers register themselves; a dispatcher of their palace approves
or rejects; nobody signs in before that, and approval creates the union's or volunteer's record."""

import time

import pytest
import requests
from nameko.standalone.rpc import ClusterRpcProxy

pytestmark = pytest.mark.e2e
PASSWORD = "register-password"


@pytest.fixture(scope="module")
def palace(module_system):
    base, config = module_system
    with ClusterRpcProxy(config, timeout=30) as rpc:
        for pid, name in (("haining", "海宁市工人文化宫"), ("qingdao", "青岛市工人文化宫")):
            rpc.dispatch.upsert_palace({"palace_id": pid, "name": name, "district": "海宁"})
        for user in ({"username": "disp1", "palace_id": "haining"}, {"username": "disp2", "palace_id": "qingdao"}):
            rpc.accounts.create_user({**user, "role": "dispatcher", "password": PASSWORD})
    sessions = {}
    for name in ("disp1", "disp2"):
        s = requests.Session()
        token = s.post(f"{base}/api/login", json={"username": name, "password": PASSWORD}).json()["token"]
        s.headers["Authorization"] = f"Bearer {token}"
        sessions[name] = s
    return base, sessions


def login(base, username):
    return requests.post(f"{base}/api/login", json={"username": username, "password": PASSWORD}, timeout=10)


def test_a_volunteer_registers_waits_for_approval_and_then_signs_in(palace):
    base, staff = palace
    form = {
        "username": "li-laoshi",
        "password": PASSWORD,
        "role": "volunteer",
        "palace_id": "haining",
        "notice_version": 1,
        "union_card": "6217-0001-2345",
        "volunteer": {"name": "李老师", "phone": "13911112222", "skills": ["声乐", "主持"], "district": "海宁"},
    }
    r = requests.post(f"{base}/api/register", json=form, timeout=10)
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "pending" and "password" not in r.text
    assert requests.post(f"{base}/api/register", json=form, timeout=10).json()["code"] == "USERNAME_TAKEN"
    early = login(base, "li-laoshi")
    assert early.status_code == 403 and early.json()["code"] == "REGISTRATION_PENDING"

    waiting = staff["disp1"].get(f"{base}/api/registrations").json()
    assert [w["username"] for w in waiting] == ["li-laoshi"]
    assert staff["disp2"].get(f"{base}/api/registrations").json() == []  # another palace's dispatcher
    assert staff["disp2"].post(f"{base}/api/registrations/li-laoshi/approve").status_code == 403

    approved = staff["disp1"].post(f"{base}/api/registrations/li-laoshi/approve")
    assert approved.status_code == 200 and approved.json()["decided_by"] == "disp1"
    again = staff["disp1"].post(f"{base}/api/registrations/li-laoshi/approve")
    assert again.status_code == 200 and again.json()["volunteer_id"] == approved.json()["volunteer_id"]

    r = login(base, "li-laoshi")
    assert r.status_code == 200
    me = requests.Session()
    me.headers["Authorization"] = f"Bearer {r.json()['token']}"
    vid = me.get(f"{base}/api/me").json()["volunteer_id"]
    record = me.get(f"{base}/api/volunteers/{vid}").json()
    assert (
        record["name"] == "李老师" and record["skills"] == ["声乐", "主持"] and record["union_card"] == "6217-0001-2345"
    )
    told = until(lambda: me.get(f"{base}/api/notifications").json()["items"])
    assert [n["title"] for n in told] == ["注册已通过审核"] and "li-laoshi" in told[0]["body"]
    assert told[0]["link"] == "/login" and told[0]["kind"] == "account"
    # reached where the registration said: the phone given there, for the SMS/WeChat gateway
    prefs = me.get(f"{base}/api/notifications/preferences").json()
    assert prefs["webhook"] is True and prefs["phone"] == "13911112222"


def test_an_enterprise_union_gives_a_contact_and_is_told_when_approved(palace):
    base, staff = palace
    form = {
        "username": "jingbian-gonghui",
        "password": PASSWORD,
        "role": "enterprise",
        "palace_id": "haining",
        "notice_version": 1,
        "email": "gonghui@jingbian.example.cn",
        "enterprise": {"name": "经编园工会", "district": "海宁", "address": "经编路 8 号"},
    }
    blind = requests.post(f"{base}/api/register", json=form, timeout=10)
    assert blind.status_code == 400, blind.text
    assert set(blind.json()["fields"]) == {"enterprise.contact_name", "enterprise.contact_phone"}
    contact = {"contact_name": "沈敏", "contact_phone": "0573-87000000"}
    form["enterprise"] = {**form["enterprise"], **contact}
    assert requests.post(f"{base}/api/register", json=form, timeout=10).status_code == 201
    waiting = [w for w in staff["disp1"].get(f"{base}/api/registrations").json() if w["username"] == form["username"]]
    assert waiting[0]["profile"]["contact_name"] == "沈敏" and waiting[0]["email"] == form["email"]
    assert staff["disp1"].post(f"{base}/api/registrations/jingbian-gonghui/approve").status_code == 200

    me = requests.Session()
    me.headers["Authorization"] = f"Bearer {login(base, 'jingbian-gonghui').json()['token']}"
    eid = me.get(f"{base}/api/me").json()["enterprise_id"]
    record = [e for e in staff["disp1"].get(f"{base}/api/enterprises").json() if e["enterprise_id"] == eid]
    assert record[0]["contact_name"] == "沈敏" and record[0]["contact_phone"] == "0573-87000000"
    told = until(lambda: me.get(f"{base}/api/notifications").json()["items"])
    assert told[0]["title"] == "注册已通过审核"
    prefs = me.get(f"{base}/api/notifications/preferences").json()
    assert prefs["email"] == form["email"] and prefs["phone"] == "0573-87000000"


def until(check, seconds: float = 20):
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"nothing within {seconds} s")


def test_an_enterprise_union_can_be_rejected_with_a_reason(palace):
    base, staff = palace
    form = {
        "username": "pige-gonghui",
        "password": PASSWORD,
        "role": "enterprise",
        "palace_id": "haining",
        "notice_version": 1,
        "enterprise": {
            "name": "海宁皮革城工会",
            "district": "海宁",
            "address": "皮革城路 1 号",
            "contact_name": "王伟",
            "contact_phone": "13905730001",
        },
    }
    assert requests.post(f"{base}/api/register", json=form, timeout=10).status_code == 201
    missing = requests.post(f"{base}/api/register", json={**form, "username": "x-1", "enterprise": None}, timeout=10)
    assert missing.status_code == 400 and "enterprise" in missing.json()["fields"]
    nowhere = requests.post(f"{base}/api/register", json={**form, "username": "x-2", "palace_id": "nope"}, timeout=10)
    assert nowhere.status_code == 400 and "palace_id" in nowhere.json()["fields"]
    r = staff["disp1"].post(f"{base}/api/registrations/pige-gonghui/reject", json={"reason": "请用单位公章邮箱注册"})
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    assert staff["disp1"].post(f"{base}/api/registrations/pige-gonghui/approve").status_code == 409
    refused = login(base, "pige-gonghui")
    assert refused.status_code == 403 and "请用单位公章邮箱注册" in refused.json()["message"]


def test_the_privacy_notice_is_agreed_to_on_registering_and_asked_again_when_it_changes(palace, module_system):
    """(Last in the module: it publishes a second version of the notice.)"""
    base, staff = palace
    _, config = module_system
    notice = requests.get(f"{base}/api/privacy", timeout=10).json()
    assert notice["version"] == 1 and "观众评议是匿名的" in notice["text"]
    form = {
        "username": "zhou-shifu",
        "password": PASSWORD,
        "role": "volunteer",
        "palace_id": "haining",
        "volunteer": {"name": "周师傅", "phone": "13911113333", "skills": ["书法"], "district": "海宁"},
    }
    unread = requests.post(f"{base}/api/register", json=form, timeout=10)
    assert unread.status_code == 400 and unread.json()["fields"]["notice_version"] == ["请阅读并同意隐私政策。"]
    old = requests.post(f"{base}/api/register", json={**form, "notice_version": 7}, timeout=10)
    assert old.json()["fields"]["notice_version"] == ["隐私政策已更新，请阅读新版本后再同意。"]
    assert requests.post(f"{base}/api/register", json={**form, "notice_version": 1}, timeout=10).status_code == 201
    assert staff["disp1"].post(f"{base}/api/registrations/zhou-shifu/approve").status_code == 200
    me = requests.Session()
    me.headers["Authorization"] = f"Bearer {login(base, 'zhou-shifu').json()['token']}"
    assert me.get(f"{base}/api/me").json()["notice_pending"] is False

    # an admin publishes a new version: asked again; a dispatcher may not publish
    with ClusterRpcProxy(config, timeout=30) as rpc:
        rpc.accounts.create_user({"username": "root1", "role": "admin", "password": PASSWORD})
    admin = requests.Session()
    admin.headers["Authorization"] = f"Bearer {login(base, 'root1').json()['token']}"
    assert staff["disp1"].put(f"{base}/api/privacy", json={"text": "新版"}, timeout=10).status_code == 403
    assert admin.put(f"{base}/api/privacy", json={"text": ""}, timeout=10).status_code == 400
    published = admin.put(f"{base}/api/privacy", json={"text": "第二版：新增了借调的说明。"}, timeout=10)
    assert published.status_code == 200 and published.json()["version"] == 2
    assert published.json()["published_by"] == "root1"
    status = me.get(f"{base}/api/me").json()
    assert status["notice_pending"] is True and status["notice_version"] == 2 and status["notice_accepted"] == 1
    assert me.post(f"{base}/api/privacy/consent", json={"version": 1}).status_code == 400
    agreed = me.post(f"{base}/api/privacy/consent", json={"version": 2})
    assert agreed.status_code == 200 and agreed.json()["accepted"] == 2
    assert me.get(f"{base}/api/me").json()["notice_pending"] is False
    # the account keeps each version agreed to, and when (in the person's copy of their data)
    import io
    import json
    import zipfile

    copy = zipfile.ZipFile(io.BytesIO(me.get(f"{base}/api/me/data").content))
    (account,) = json.loads(copy.read("data.json"))["accounts"]["account"]
    assert [c["version"] for c in account["consents"]] == [1, 2]
