"""The notifications over HTTP: each person's own inbox, newest first with the unread count and
pages; marking read; preferences with clear Chinese errors; English on request."""

import pytest
import requests
from nameko.standalone.rpc import ClusterRpcProxy

from services.accounts.service import AccountsService
from services.gateway.service import GatewayService
from services.notifications.service import NotificationsService
from tests.helpers import publish_event, wait_until

PASSWORD = "gateway-password"


@pytest.fixture
def api(runner_factory, service_config):
    config = {**service_config, "SMTP_HOST": "127.0.0.1"}  # email offered in the settings (nothing is sent here)
    runner = runner_factory(config, GatewayService, AccountsService, NotificationsService)
    runner.start()
    base = f"http://{config['WEB_SERVER_ADDRESS']}"
    sessions = {}
    with ClusterRpcProxy(config) as rpc:
        for user in (
            {"username": "ent1", "role": "enterprise", "palace_id": "p1", "enterprise_id": "e1"},
            {"username": "vol1", "role": "volunteer", "palace_id": "p1", "volunteer_id": "v1"},
        ):
            rpc.accounts.create_user({**user, "password": PASSWORD})
            session = requests.Session()
            token = session.post(f"{base}/api/login", json={"username": user["username"], "password": PASSWORD})
            session.headers["Authorization"] = f"Bearer {token.json()['token']}"
            sessions[user["username"]] = session
    return base, config, sessions


def accepted(config, order_id, title):
    publish_event(
        config,
        "orders",
        "order_accepted",
        order_id=order_id,
        palace_id="p1",
        enterprise_id="e1",
        program_title=title,
        site_address="一号车间",
        district="海宁",
        audience_size=50,
        windows=[{"start": "2026-12-05T14:00:00+08:00", "end": "2026-12-05T16:00:00+08:00"}],
    )


def test_a_person_pages_through_their_own_inbox_newest_first_and_marks_it_read(api):
    base, config, sessions = api
    ent, vol = sessions["ent1"], sessions["vol1"]
    assert requests.get(f"{base}/api/notifications").status_code == 401
    assert ent.get(f"{base}/api/notifications").json() == {"items": [], "unread": 0, "next_before": None}
    for i in range(3):
        accepted(config, f"o{i}", f"节目{i}")
        wait_until(lambda i=i: ent.get(f"{base}/api/notifications").json()["unread"] == i + 1, what="notification")

    first = ent.get(f"{base}/api/notifications?limit=2").json()
    assert [n["body"] for n in first["items"]] == [
        "您的订单「节目2」已受理，正在安排人员。",
        "您的订单「节目1」已受理，正在安排人员。",
    ]
    assert first["unread"] == 3 and first["items"][0]["kind_label"] == "订单进展"
    rest = ent.get(f"{base}/api/notifications", params={"limit": 2, "before": first["next_before"]}).json()
    assert [n["body"] for n in rest["items"]] == ["您的订单「节目0」已受理，正在安排人员。"]
    assert rest["next_before"] is None

    # another person sees none of it and cannot mark it
    assert vol.get(f"{base}/api/notifications").json()["items"] == []
    target = first["items"][0]["notification_id"]
    r = vol.post(f"{base}/api/notifications/{target}/read")
    assert r.status_code == 404 and r.json()["message"] == "找不到这条通知。"

    r = ent.post(f"{base}/api/notifications/{target}/read")
    assert r.status_code == 200 and r.json()["read"] is True
    assert ent.get(f"{base}/api/notifications").json()["unread"] == 2
    assert ent.post(f"{base}/api/notifications/read-all").json() == {"updated": 2, "unread": 0}

    english = ent.get(f"{base}/api/notifications?limit=1", headers={"Accept-Language": "en"}).json()["items"][0]
    assert english["title"] == "Order accepted"
    assert english["body"] == "Your order “节目2” was accepted; a crew is being arranged."


def test_bad_paging_is_a_400_with_the_field_named(api):
    base, _, sessions = api
    ent = sessions["ent1"]
    for query, field in (("limit=0", "limit"), ("limit=abc", "limit"), ("before=%24gt", "before"), ("x=1", "x")):
        r = ent.get(f"{base}/api/notifications?{query}")
        assert r.status_code == 400 and field in r.json()["fields"] and r.json()["message"] == "查询参数有误。"
    assert ent.post(f"{base}/api/notifications/nope/read").status_code == 404


def test_preferences_list_the_kinds_of_the_role_and_keep_what_is_muted(api):
    base, _, sessions = api
    vol = sessions["vol1"]
    settings = vol.get(f"{base}/api/notifications/preferences").json()
    assert [k["kind"] for k in settings["kinds"]] == ["offer", "reminder", "assignment"]
    available = {c["channel"]: c["available"] for c in settings["channels"]}
    assert available == {"inbox": True, "email": True, "webhook": False}
    assert settings["mutes"] == [] and settings["email"] is None

    r = vol.put(f"{base}/api/notifications/preferences", json={"email": "不是邮箱", "mutes": [{"kind": "nope"}]})
    assert r.status_code == 400
    fields = r.json()["fields"]
    assert fields["email"] == ["邮箱地址格式不对。"] and "取值应为以下之一" in fields["mutes.0.kind"][0]
    r = vol.put(f"{base}/api/notifications/preferences", json={"mutes": [], "hacker": 1})
    assert r.status_code == 400 and r.json()["fields"]["hacker"] == ["不认识的字段。"]
    r = vol.put(f"{base}/api/notifications/preferences", data="not json")
    assert r.status_code == 400 and r.json()["code"] == "BAD_JSON"

    wanted = {"email": "v1@example.cn", "mutes": [{"kind": "reminder", "channels": ["email"]}]}
    saved = vol.put(f"{base}/api/notifications/preferences", json=wanted).json()
    assert saved["email"] == "v1@example.cn" and saved["mutes"] == [{"kind": "reminder", "channels": ["email"]}]
    assert vol.get(f"{base}/api/notifications/preferences").json()["mutes"] == saved["mutes"]
    # the enterprise's settings are its own
    assert sessions["ent1"].get(f"{base}/api/notifications/preferences").json()["email"] is None

    english = vol.get(f"{base}/api/notifications/preferences", headers={"Accept-Language": "en"}).json()
    assert english["kinds"][0]["label"] == "New offers" and english["channels"][0]["label"] == "Inbox"


def test_every_signed_in_page_has_the_bell_and_its_script(api):
    base, _, _ = api
    for page in ("/app/enterprise", "/app/dispatcher", "/app/volunteer", "/app/reports"):
        html = requests.get(base + page).text
        assert 'id="bell"' in html and "/static/notifications.js" in html and 'id="notif-settings"' in html
    assert 'id="bell"' not in requests.get(base + "/login").text
    script = requests.get(f"{base}/static/notifications.js")
    assert script.status_code == 200 and "/api/notifications/preferences" in script.text
