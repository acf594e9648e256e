"""The audit log over real RPC and the real broker: who did what, from the events the services
publish (their ``actor`` comes from the gateway's request through nameko's context data), and
each look at other people's personal data, as dispatchers and admins read and export it."""

import io

import pytest
from nameko.rpc import rpc
from nameko.standalone.rpc import ClusterRpcProxy
from openpyxl import load_workbook

from services.accounts.service import AccountsService
from services.audit.service import AuditService
from services.gateway.service import GatewayService
from services.notifications.service import NotificationsService
from services.orders.service import OrdersService
from tests.helpers import publish_event, signed_in, wait_until
from tests.integration.test_gateway import Dispatch, Feedback, order


class Reporting:
    name = "reporting"

    @rpc
    def ping(self):
        return "ok"


@pytest.fixture
def system(runner_factory, service_config):
    runner = runner_factory(
        service_config,
        GatewayService,
        OrdersService,
        AccountsService,
        Dispatch,
        Feedback,
        Reporting,
        NotificationsService,
        AuditService,
    )
    runner.start()
    base = f"http://{service_config['WEB_SERVER_ADDRESS']}"
    with ClusterRpcProxy(service_config) as proxy:
        proxy.orders.register_enterprise(
            {"enterprise_id": "ent1", "palace_id": "p1", "name": "海宁经编公司工会", "district": "海宁"}
        )
        users = [
            {"username": "ent1", "role": "enterprise", "palace_id": "p1", "enterprise_id": "ent1"},
            {"username": "disp1", "role": "dispatcher", "palace_id": "p1"},
            {"username": "disp2", "role": "dispatcher", "palace_id": "p3"},
            {"username": "root", "role": "admin"},
        ]
        for user in users:
            proxy.accounts.create_user({**user, "password": "password-1234"})
    yield base, {u["username"]: signed_in(base, u["username"], "password-1234") for u in users}


def entries(session, base, **params):
    r = session.get(f"{base}/api/audit", params=params)
    assert r.status_code == 200, r.text
    return r.json()["entries"]


def test_each_decision_is_kept_with_its_author_role_and_address_and_only_staff_read_it(system):
    base, people = system
    ent, disp = people["ent1"], people["disp1"]
    placed = ent.post(f"{base}/api/orders", json=order()).json()
    other = ent.post(f"{base}/api/orders", json=order(site_address="5 号厂房")).json()
    assert disp.post(f"{base}/api/orders/{placed['order_id']}/accept", json={}).status_code == 200
    r = disp.post(f"{base}/api/orders/{other['order_id']}/reject", json={"reason": "当天剧场检修"})
    assert r.status_code == 200, r.text

    found = wait_until(
        lambda: (e := entries(disp, base, kind="order_accepted,order_rejected")) and len(e) == 2 and e,
        what="the two decisions in the audit log",
    )
    by_kind = {e["kind"]: e for e in found}
    accepted, rejected = by_kind["order_accepted"], by_kind["order_rejected"]
    assert accepted["actor"] == {"username": "disp1", "role": "dispatcher", "palace_id": "p1", "address": "127.0.0.1"}
    assert accepted["subject"] == {"type": "order", "id": placed["order_id"]}
    assert accepted["kind_name"] == "受理订单"
    assert rejected["details"]["reason"] == "当天剧场检修"
    # the union's own acts are there too, under its name; filters by person and by kind
    mine = wait_until(lambda: entries(disp, base, username="ent1", kind="order_placed"), what="placed orders")
    assert {e["subject"]["id"] for e in mine} == {placed["order_id"], other["order_id"]}
    assert all(e["actor"]["role"] == "enterprise" for e in mine)
    # a dispatcher of another palace sees nothing of it; an admin sees it; a union is refused
    assert entries(people["disp2"], base) == []
    assert disp.get(f"{base}/api/audit", params={"palace_id": "p3"}).status_code == 403
    assert {e["entry_id"] for e in found} <= {e["entry_id"] for e in entries(people["root"], base, palace_id="p1")}
    r = ent.get(f"{base}/api/audit")
    assert r.status_code == 403 and "权限" in r.json()["message"]
    # bad filters get a clear answer
    r = disp.get(f"{base}/api/audit", params={"since": "2026-12-08", "until": "2026-12-01"})
    assert r.status_code == 400 and "until" in r.json()["fields"]
    r = disp.get(f"{base}/api/audit", params={"kind": "nonsense"})
    assert r.status_code == 400 and r.json()["fields"]["kind"] == ["没有这种操作类型。"]
    r = disp.get(f"{base}/api/audit", params={"kind": "order_accepted"}, headers={"Accept-Language": "en"})
    assert r.json()["entries"][0]["kind_name"] == "Accept an order"


def test_looking_at_personal_data_is_kept_once_an_hour_and_every_export_is_kept(system):
    base, people = system
    disp = people["disp1"]
    for _ in range(3):
        assert disp.get(f"{base}/api/enterprises").status_code == 200
    seen = wait_until(lambda: entries(disp, base, kind="personal_data_viewed"), what="the view")
    assert len(seen) == 1
    assert seen[0]["subject"] == {"type": "enterprises", "id": "p1"} and seen[0]["actor"]["username"] == "disp1"

    r = disp.get(f"{base}/api/audit/export", params={"kind": "personal_data_viewed"})
    assert r.status_code == 200, r.text
    sheet = load_workbook(io.BytesIO(r.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("时间", "操作", "账号")
    assert [row[1:4] for row in rows[1:]] == [("查看个人信息", "disp1", "调度员")]
    exported = entries(disp, base, kind="audit_exported")
    assert len(exported) == 1 and exported[0]["details"]["rows"] == 1


def test_a_decision_taken_in_twice_is_one_entry_and_an_author_named_by_the_event_is_kept(system, service_config):
    base, people = system
    event = {
        "event_id": "e-hours-1",
        "order_id": "o-1",
        "palace_id": "p1",
        "volunteer_id": "v-1",
        "hours": 2.0,
        "reason": "线下补登",
        "granted_by": "disp9",
    }
    publish_event(service_config, "dispatch", "hours_granted", **event)
    publish_event(service_config, "dispatch", "hours_granted", **event)
    publish_event(
        service_config,
        "dispatch",
        "offer_expired",
        offer_id="x",
        order_id="o-1",
        palace_id="p1",
        volunteer_id="v-1",
        skill="声乐",
    )  # the system's own: not a person's decision
    found = wait_until(lambda: entries(people["root"], base, subject_id="o-1"), what="the grant")
    assert len(found) == 1
    assert found[0]["actor"]["username"] == "disp9" and found[0]["kind"] == "hours_granted"
