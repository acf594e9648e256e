"""The HTTP API over real RPC: gateway + orders for real; dispatch and feedback as small
stand-ins here (the real ones are exercised by the end-to-end test)."""

import datetime as dt
import json

import pytest
import requests
from nameko.rpc import rpc

from common.errors import NotFound
from services.accounts.service import AccountsService
from services.audit.service import AuditService
from services.gateway.service import GatewayService
from services.notifications.service import NotificationsService
from services.orders.service import OrdersService
from services.reporting.service import ReportingService
from tests.helpers import wait_until

CN = dt.timezone(dt.timedelta(hours=8))
DAY = dt.datetime.combine(dt.datetime.now(CN).date() + dt.timedelta(days=4), dt.time(0), CN)  # past the lead time


def at(hour: float, days: int = 0) -> str:
    return (DAY + dt.timedelta(days=days, hours=hour)).isoformat()


WINDOW = {"start": at(14), "end": at(18)}


class Dispatch:
    name = "dispatch"

    @rpc
    def ping(self):
        return "ok"

    # p1 and p2 are allied, p3 is not; "song" is p1's, "opera" p2's and "film" p3's
    PROGRAMS = {"song": "p1", "opera": "p2", "film": "p3"}

    @rpc(expected_exceptions=NotFound)
    def get_program(self, program_id):
        if program_id not in self.PROGRAMS:
            raise NotFound("找不到这个节目。", "PROGRAM_NOT_FOUND")
        return {"program_id": program_id, "title": "劳动者之歌", "palace_id": self.PROGRAMS[program_id]}

    @rpc
    def list_programs(self, palace_id=None):
        return [{"program_id": "song", "title": "劳动者之歌", "palace_id": palace_id}]

    @rpc
    def list_palaces(self):
        return [
            {"palace_id": "p1", "name": "一宫", "district": "海宁"},  # the default rules
            {"palace_id": "p2", "name": "二宫", "district": "青岛", "min_lead_hours": 0, "horizon_days": 30},
            {"palace_id": "p3", "name": "三宫", "district": "武汉"},
        ]

    @rpc
    def list_alliances(self, palace_id=None):
        alliance = {"alliance_id": "a1", "name": "联盟", "palace_ids": ["p1", "p2"]}
        return [alliance] if palace_id in (None, "p1", "p2") else []

    @rpc
    def get_plan(self, order_id):
        return {"order_id": order_id, "offers": [{"volunteer_id": "v1", "status": "accepted"}]}

    @rpc
    def staffable_windows(self, palace_id, program_id, district, weeks=3):
        asked = [palace_id, program_id, district, weeks]
        return [{"start": at(14), "end": at(17), "slot_start": at(14), "slot_end": at(16), "asked": asked}]

    @rpc
    def check_in(self, order_id, data, staff=False):
        return {"order_id": order_id, "received": data, "staff": staff}

    @rpc
    def check_out(self, order_id, data):
        return {"order_id": order_id, "received": data}


class Feedback:
    name = "feedback"

    @rpc
    def ping(self):
        return "ok"

    @rpc(expected_exceptions=NotFound)
    def get_public_survey(self, token):
        if token != "tok":
            raise NotFound("找不到这份评议，请检查二维码或链接。", "SURVEY_NOT_FOUND")
        return {
            "survey_id": "s1",
            "status": "open",
            "program_title": "劳动者之歌",
            "closes_at": "2026-12-08T00:00:00+00:00",
        }

    @rpc
    def intake_surveys(self, tokens):
        survey = {"survey_id": "s1", "status": "open", "closes_at": "2099-12-08T00:00:00+00:00"}
        return {"tok": survey} if "tok" in tokens else {}


@pytest.fixture
def api(runner_factory, service_config):
    runner = runner_factory(
        service_config,
        GatewayService,
        OrdersService,
        AccountsService,
        Dispatch,
        Feedback,
        ReportingService,
        NotificationsService,
        AuditService,
    )
    runner.start()
    base = f"http://{service_config['WEB_SERVER_ADDRESS']}"
    from nameko.standalone.rpc import ClusterRpcProxy

    with ClusterRpcProxy(service_config) as proxy:
        proxy.orders.register_enterprise(
            {"enterprise_id": "ent1", "palace_id": "p1", "name": "海宁经编公司工会", "district": "海宁"}
        )
    ent, disp = requests.Session(), requests.Session()
    with ClusterRpcProxy(service_config) as proxy:
        proxy.accounts.create_user(
            {
                "username": "ent1",
                "password": "password-1",
                "role": "enterprise",
                "palace_id": "p1",
                "enterprise_id": "ent1",
            }
        )
        proxy.accounts.create_user(
            {"username": "disp1", "password": "password-1", "role": "dispatcher", "palace_id": "p1"}
        )
    for session, username in ((ent, "ent1"), (disp, "disp1")):
        r = session.post(f"{base}/api/login", json={"username": username, "password": "password-1"})
        session.headers["Authorization"] = f"Bearer {r.json()['token']}"
    yield base, runner, ent, disp


def order(**over):
    return {
        "enterprise_id": "ent1",
        "palace_id": "p1",
        "program_id": "song",
        "site_address": "3 号厂房",
        "district": "海宁",
        "audience_size": 300,
        "windows": [WINDOW],
        "contact_name": "王芳",
        "contact_phone": "13800000000",
        **over,
    }


def test_healthz_is_ok_when_broker_and_every_service_answer(api):
    base, _, ent, disp = api
    r = requests.get(f"{base}/healthz")
    assert r.status_code == 200
    assert r.json()["checks"] == {
        "broker": "ok",
        "orders": "ok",
        "dispatch": "ok",
        "feedback": "ok",
        "accounts": "ok",
        "reporting": "ok",
        "notifications": "ok",
        "audit": "ok",
    }


def test_healthz_is_503_and_names_the_service_that_does_not_answer(runner_factory, service_config):
    runner = runner_factory(service_config, GatewayService, Dispatch, Feedback)
    runner.start()
    r = requests.get(f"http://{service_config['WEB_SERVER_ADDRESS']}/healthz", timeout=20)
    assert r.status_code == 503
    checks = r.json()["checks"]
    assert checks["orders"] != "ok" and checks["dispatch"] == "ok" and checks["broker"] == "ok"


def test_a_signed_out_token_stops_working_at_once_on_every_gateway_process(api, service_config):
    """The gateway keeps sessions in memory; a sign-out through this process forgets it here, one
    through another process (here: straight to accounts) is told to every process."""
    from nameko.standalone.rpc import ClusterRpcProxy

    base, _, ent, disp = api
    assert ent.get(f"{base}/api/me").json()["username"] == "ent1"
    assert ent.post(f"{base}/api/logout").status_code == 200
    r = ent.get(f"{base}/api/me")
    assert r.status_code == 401 and r.json()["code"] == "SESSION_EXPIRED"

    assert disp.get(f"{base}/api/me").json()["username"] == "disp1"  # now kept in this process
    with ClusterRpcProxy(service_config) as proxy:
        proxy.accounts.logout(disp.headers["Authorization"].removeprefix("Bearer "))
    wait_until(lambda: disp.get(f"{base}/api/me").status_code == 401, what="the sign-out told to the gateway")


def test_an_order_placed_over_http_can_be_read_back_with_its_program_title(api):
    base, _, ent, disp = api
    r = ent.post(f"{base}/api/orders", json=order())
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["program_title"] == "劳动者之歌"
    got = ent.get(f"{base}/api/orders/{created['order_id']}").json()
    assert got == created
    page = ent.get(f"{base}/api/orders", params={"enterprise_id": "ent1", "per_page": "5"}).json()
    assert page["total"] == 1 and page["items"][0]["order_id"] == created["order_id"]


@pytest.mark.parametrize(
    "bad, field",
    [
        ({"audience_size": -5}, "audience_size"),
        ({"district": {"$gt": ""}}, "district"),
        ({"surprise": 1}, "surprise"),
        ({"site_address": "厂" * 10_000}, "site_address"),
        ({"windows": [{"start": "下周三", "end": "2026-12-05T18:00:00+08:00"}]}, "windows.0.start"),
        ({"program_id": "nope"}, "program_id"),
    ],
)
def test_bad_input_is_a_400_with_a_chinese_message_for_the_field(api, bad, field):
    base, _, ent, disp = api
    r = ent.post(f"{base}/api/orders", json=order(**bad))
    assert r.status_code == 400, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    err = r.json()
    assert err["code"] == "INVALID" and field in err["fields"]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in err["fields"][field][0])


def test_malformed_json_and_non_objects_are_a_400(api):
    base, _, ent, disp = api
    for raw in (b"{not json", b"[1, 2]", b"\xff\xfe"):
        r = ent.post(f"{base}/api/orders", data=raw, headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and r.json()["code"] == "BAD_JSON"


def test_an_oversized_body_is_a_413(api):
    base, _, ent, disp = api
    r = ent.post(f"{base}/api/orders", data=b"{" + b" " * (1024 * 1024 + 10) + b"}")
    assert r.status_code == 413 and r.json()["code"] == "TOO_LARGE"


def test_unknown_routes_and_wrong_methods_answer_json(api):
    base, _, ent, disp = api
    r = requests.get(f"{base}/api/nothing-here")
    assert r.status_code == 404 and r.json()["message"] == "找不到这个地址。"
    r = requests.delete(f"{base}/api/orders")
    assert r.status_code == 405 and r.json()["code"] == "METHOD_NOT_ALLOWED"


def test_an_illegal_transition_is_a_409_and_an_unknown_order_a_404(api):
    base, _, ent, disp = api
    oid = ent.post(f"{base}/api/orders", json=order()).json()["order_id"]
    assert disp.post(f"{base}/api/orders/{oid}/reject", json={"reason": "档期已满"}).status_code == 200
    r = disp.post(f"{base}/api/orders/{oid}/accept", json={})
    assert r.status_code == 409 and r.json()["code"] == "ILLEGAL_TRANSITION"
    r = ent.get(f"{base}/api/orders/does-not-exist")
    assert r.status_code == 404 and r.json()["code"] == "ORDER_NOT_FOUND"
    r = ent.get(f"{base}/api/orders", params={"page": "zero"})
    assert r.status_code == 400 and "page" in r.json()["fields"]


def test_the_audience_form_is_a_small_page_and_a_bad_token_says_so(api):
    base, _, ent, disp = api
    r = requests.get(f"{base}/s/tok")
    assert r.status_code == 200 and "text/html" in r.headers["Content-Type"]
    assert (
        "劳动者之歌" in r.text
        and 'name="overall"' in r.text
        and "http" not in r.text.split("<script>")[0].lower().replace("http-equiv", "")
    )
    r = requests.get(f"{base}/s/wrong")
    assert r.status_code == 404 and "找不到这份评议" in r.text


def test_the_served_openapi_document_is_valid_and_generated_from_the_routes(api):
    """The document is the routes' declarations (tests/unit/test_gateway_routes.py checks that each
    declared role is what the handler admits); here: the running gateway serves it, valid."""
    from openapi_spec_validator import validate

    from services.gateway.openapi import build
    from services.gateway.routes import routes

    base, _, ent, disp = api
    doc = requests.get(f"{base}/openapi.json").json()
    validate(doc)
    assert doc == json.loads(json.dumps(build()))
    declared = {(r.method, r.path): r for r in routes(GatewayService)}
    served = {(m.upper(), path): op for path, ops in doc["paths"].items() for m, op in ops.items()}
    assert set(served) == {k for k, r in declared.items() if r.documented}  # the pages are HTML for people
    assert all(op["x-roles"] == list(declared[k].roles) for k, op in served.items())
    assert served[("POST", "/api/orders")]["x-roles"] == ["enterprise", "dispatcher", "admin"]
    assert "security" not in served[("POST", "/api/surveys/{token}/responses")]
    assert doc["components"]["schemas"]["PlaceOrderRequest"]["additionalProperties"] is False


def test_the_feedback_form_is_rate_limited_per_client_and_per_survey(runner_factory, service_config):
    config = {**service_config, "FEEDBACK_LIMIT_PER_CLIENT": "3/minute", "FEEDBACK_LIMIT_PER_SURVEY": "5/minute"}
    runner = runner_factory(config, GatewayService, Dispatch, Feedback)
    runner.start()
    url = f"http://{config['WEB_SERVER_ADDRESS']}/api/surveys/tok/responses"
    phone = {"User-Agent": "phone-1"}
    assert [requests.post(url, json={"overall": 5}, headers=phone).status_code for _ in range(4)] == [
        202,
        202,
        202,
        429,
    ]
    r = requests.post(url, json={"overall": 5}, headers=phone)
    assert r.status_code == 429 and r.json()["code"] == "TOO_MANY_REQUESTS" and "频繁" in r.json()["message"]
    others = [
        requests.post(url, json={"overall": 5}, headers={"User-Agent": f"phone-{i}"}).status_code for i in range(2, 5)
    ]
    assert others == [202, 202, 429]  # the survey's own allowance (5) is spent


def test_passwords_and_tokens_never_reach_the_logs(api, caplog):
    import logging

    from common.logs import RedactSecrets

    base, _, _, _ = api
    caplog.set_level(logging.DEBUG)  # even nameko's message bodies at DEBUG
    caplog.handler.addFilter(RedactSecrets())  # as config.yml attaches it to every handler
    session = requests.post(f"{base}/api/login", json={"username": "ent1", "password": "password-1"}).json()
    requests.post(f"{base}/api/login", json={"username": "ent1", "password": "wrong-password-9"})
    requests.get(f"{base}/api/me", headers={"Authorization": f"Bearer {session['token']}"})
    requests.get(f"{base}/s/tok")
    requests.post(f"{base}/api/surveys/tok/responses", json={"overall": 5})
    text = caplog.text
    assert "'token': '***'" in text  # the reply was logged, with the token masked
    for secret in ("password-1", "wrong-password-9", session["token"], "/s/tok", "/surveys/tok"):
        assert secret not in text


def test_metrics_count_calls_and_read_queue_depth_outbox_lag_and_offers_pending(api):
    base, _, ent, disp = api
    r = ent.post(f"{base}/api/orders", json=order())
    assert r.status_code == 201
    ent.get(f"{base}/api/orders/does-not-exist")
    metrics = requests.get(f"{base}/metrics")
    assert metrics.status_code == 200 and metrics.headers["Content-Type"].startswith("text/plain")
    text = metrics.text
    assert 'songwenhua_entrypoint_calls_total{entrypoint="place_order",service="gateway"}' in text
    assert 'songwenhua_entrypoint_calls_total{entrypoint="place_order",service="orders"}' in text
    assert 'songwenhua_entrypoint_errors_total{entrypoint="get_order",error="NotFound",service="orders"}' in text
    assert 'songwenhua_entrypoint_seconds_bucket{entrypoint="place_order",le="0.5",service="orders"}' in text
    assert 'songwenhua_outbox_unpublished{service="orders"}' in text
    assert 'songwenhua_queue_messages{queue="evt-dispatch-order_scheduled--orders.handle_order_scheduled"' in text


def test_a_log_line_carries_the_order_it_is_about():
    import json as _json
    import logging

    from pythonjsonlogger.json import JsonFormatter

    from common.observability import CorrelationFilter, _correlation_of, set_correlation

    class Ctx:
        args = ({"event_id": "e1", "order_id": "o-42"},)
        kwargs = {}
        call_id = "call-1"

    set_correlation(_correlation_of(Ctx()))
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello %s", ("world",), None)
    CorrelationFilter().filter(record)
    line = _json.loads(JsonFormatter("%(levelname)s %(correlation_id)s %(message)s").format(record))
    assert line == {"levelname": "INFO", "correlation_id": "o-42", "message": "hello world"}
    Ctx.args = ("o-7", {"people_served": 3})
    Ctx.kwargs = {}
    set_correlation(_correlation_of(Ctx()))
    CorrelationFilter().filter(record)
    assert record.correlation_id == "call-1"
    set_correlation(None)


# ---------------------------------------------------------------- time rules and where an order goes


def _count(ent, base):
    return ent.get(f"{base}/api/orders").json()["total"]


def _soon(hours: float) -> dict:
    start = dt.datetime.now(CN).replace(second=0, microsecond=0) + dt.timedelta(hours=hours)
    return {"start": start.isoformat(), "end": (start + dt.timedelta(hours=3)).isoformat()}


@pytest.mark.parametrize(
    "windows, field, message",
    [
        ([_soon(-24)], "windows.0.start", "这个时间已经过去了。"),
        ([WINDOW, _soon(1)], "windows.1.start", "（需提前 48 小时）"),
        ([{"start": at(14), "end": at(20, days=1)}], "windows.0.end", "一个时间段不能超过 24 小时。"),
        ([{"start": at(14, days=400), "end": at(17, days=400)}], "windows.0.end", "最远只能约到一年内"),
    ],
)
def test_a_window_the_palace_cannot_serve_is_a_400_next_to_it_and_nothing_is_stored(api, windows, field, message):
    base, _, ent, _ = api
    before = _count(ent, base)
    r = ent.post(f"{base}/api/orders", json=order(windows=windows))
    assert r.status_code == 400, r.text
    assert message in " ".join(r.json()["fields"][field])
    assert _count(ent, base) == before
    english = ent.post(f"{base}/api/orders", json=order(windows=windows), headers={"Accept-Language": "en"})
    assert not any("\u4e00" <= c <= "\u9fff" for c in " ".join(english.json()["fields"][field]))


def test_a_series_running_past_the_horizon_is_refused_on_its_rule(api):
    base, _, ent, _ = api
    series = {k: v for k, v in order().items() if k != "windows"}
    far = {"start": at(14, days=300), "end": at(17, days=300)}
    r = ent.post(f"{base}/api/orders/recurring", json={**series, "first_window": far, "rrule": "FREQ=MONTHLY;COUNT=6"})
    assert r.status_code == 400, r.text
    assert "超出了预约范围" in r.json()["fields"]["rrule"][0]
    assert _count(ent, base) == 0


def test_an_order_goes_to_the_unions_palace_or_an_allied_one_for_a_program_of_that_palace(api):
    base, _, ent, _ = api
    r = ent.post(f"{base}/api/orders", json=order(palace_id="p3", program_id="film"))
    assert r.status_code == 400 and "联盟" in r.json()["fields"]["palace_id"][0]
    r = ent.post(f"{base}/api/orders", json=order(program_id="opera"))  # p2's program, ordered of p1
    assert r.status_code == 400 and r.json()["fields"]["program_id"] == ["这个节目不属于所选文化宫。"]
    r = ent.post(f"{base}/api/orders", json=order(palace_id="p2", program_id="song"))
    assert r.status_code == 400 and "program_id" in r.json()["fields"]
    assert _count(ent, base) == 0
    # the allied palace, with its own rules: it books with no lead time
    r = ent.post(f"{base}/api/orders", json=order(palace_id="p2", program_id="opera", windows=[_soon(2)]))
    assert r.status_code == 201, r.text
    assert r.json()["palace_id"] == "p2"
    r = ent.post(f"{base}/api/orders", json=order(palace_id="p2", program_id="opera", windows=[WINDOW | {}]))
    assert r.status_code == 201  # four days ahead is within p2's 30 days
    far = {"start": at(14, days=40), "end": at(17, days=40)}
    r = ent.post(f"{base}/api/orders", json=order(palace_id="p2", program_id="opera", windows=[far]))
    assert r.status_code == 400 and "30 天内" in r.json()["fields"]["windows.0.end"][0]


def test_a_dispatcher_places_an_urgent_order_for_a_union_of_the_palace(api):
    base, _, ent, disp = api
    tomorrow = _soon(20)
    body = {k: v for k, v in order(windows=[tomorrow]).items() if k != "palace_id"}
    r = disp.post(f"{base}/api/orders", json=body)
    assert r.status_code == 400 and "需提前 48 小时" in r.json()["fields"]["windows.0.start"][0]
    r = disp.post(f"{base}/api/orders", json={**body, "urgent": True})
    assert r.status_code == 201, r.text
    placed = r.json()
    assert placed["enterprise_id"] == "ent1" and placed["palace_id"] == "p1" and placed["status"] == "submitted"
    # the order keeps that it was urgent and who placed it; the union sees it among its own
    assert placed["urgent"] is True and placed["placed_by"] == {"username": "disp1", "role": "dispatcher"}
    (seen,) = ent.get(f"{base}/api/orders").json()["items"]
    assert seen["order_id"] == placed["order_id"] and seen["urgent"] and seen["placed_by"]["role"] == "dispatcher"
    # the other rules still hold for an urgent order: a window that is over is refused; one under
    # way is the delivery of today, entered on the day
    r = disp.post(f"{base}/api/orders", json={**body, "urgent": True, "windows": [_soon(-4)]})
    assert r.status_code == 400 and r.json()["fields"]["windows.0.start"] == ["这个时间已经过去了。"]
    r = disp.post(f"{base}/api/orders", json={**body, "urgent": True, "windows": [_soon(-1)], "client_ref": "now"})
    assert r.status_code == 201, r.text
    # a union cannot make its own order urgent; a dispatcher orders for a known union only
    r = ent.post(f"{base}/api/orders", json={**order(windows=[tomorrow]), "urgent": True})
    assert r.status_code == 400 and "urgent" in r.json()["fields"]
    r = disp.post(f"{base}/api/orders", json={**body, "enterprise_id": "nobody", "urgent": True})
    assert r.status_code == 400 and "enterprise_id" in r.json()["fields"]
    assert _count(ent, base) == 2
    # the union's own order: not urgent, placed by its own account
    own = ent.post(f"{base}/api/orders", json=order()).json()
    assert own["urgent"] is False and own["placed_by"] == {"username": "ent1", "role": "enterprise"}


def test_an_overlong_note_is_refused_with_its_length_and_nothing_is_cut(api):
    base, _, ent, _ = api
    r = ent.post(f"{base}/api/orders", json=order(note="字" * 10_000))
    assert r.status_code == 400
    assert r.json()["fields"]["note"] == ["备注最多 1000 字，现在是 10000 字。"]
    assert _count(ent, base) == 0
    placed = ent.post(f"{base}/api/orders", json=order(note="字" * 1000)).json()
    assert len(placed["note"]) == 1000
    r = ent.patch(f"{base}/api/orders/{placed['order_id']}", json={"note": "字" * 1001})
    assert r.status_code == 400 and r.json()["fields"]["note"] == ["备注最多 1000 字，现在是 1001 字。"]
    r = ent.patch(f"{base}/api/orders/{placed['order_id']}", json={"windows": [_soon(1)]})
    assert r.status_code == 400 and "windows.0.start" in r.json()["fields"]
    assert ent.get(f"{base}/api/orders/{placed['order_id']}").json()["note"] == "字" * 1000


def test_a_union_reads_its_own_record_for_the_forms_district(api):
    base, _, ent, disp = api
    assert ent.get(f"{base}/api/enterprises/ent1").json()["district"] == "海宁"
    assert ent.get(f"{base}/api/enterprises/ent2").status_code == 403
    assert disp.get(f"{base}/api/enterprises/ent1").json()["palace_id"] == "p1"


def test_a_volunteer_checks_in_and_out_at_the_moment_sent_and_only_staff_record_a_time(api, service_config):
    base, _, ent, disp = api
    oid = ent.post(f"{base}/api/orders", json=order()).json()["order_id"]
    from nameko.standalone.rpc import ClusterRpcProxy

    with ClusterRpcProxy(service_config) as proxy:
        proxy.accounts.create_user(
            {"username": "v1", "password": "password-1", "role": "volunteer", "palace_id": "p1", "volunteer_id": "v1"}
        )
    vol = requests.Session()
    token = vol.post(f"{base}/api/login", json={"username": "v1", "password": "password-1"}).json()["token"]
    vol.headers["Authorization"] = f"Bearer {token}"
    backdated = {"code": "123456", "at": at(8)}
    for verb in ("check-in", "check-out"):
        sent = vol.post(f"{base}/api/orders/{oid}/{verb}", json=backdated).json()["received"]
        assert "at" not in sent and sent["volunteer_id"] == "v1", verb
    by_hand = disp.post(f"{base}/api/orders/{oid}/check-in", json={"volunteer_id": "v1", "at": at(14)}).json()
    assert by_hand["received"]["at"] == at(14) and by_hand["staff"] is True


def test_the_order_form_asks_which_dates_can_be_staffed_of_its_own_palace_or_an_allied_one(api):
    base, _, ent, disp = api
    url = base + "/api/palaces/{}/staffable-windows"
    r = ent.get(url.format("p1"), params={"program_id": "song"})
    assert r.status_code == 200, r.text
    assert r.json()[0]["asked"] == ["p1", "song", "海宁", 3]  # the union's own district, three weeks
    r = ent.get(url.format("p2"), params={"program_id": "opera", "district": "青岛", "weeks": "2"})
    assert r.status_code == 200 and r.json()[0]["asked"] == ["p2", "opera", "青岛", 2]
    assert ent.get(url.format("p3"), params={"program_id": "film"}).status_code == 403  # not allied
    assert disp.get(url.format("p2"), params={"program_id": "opera", "district": "青岛"}).status_code == 403
    r = disp.get(url.format("p1"), params={"program_id": "song"})
    assert r.status_code == 400 and "district" in r.json()["fields"]  # a dispatcher names the district
    r = ent.get(url.format("p1"), params={"program_id": "song", "weeks": "9"})
    assert r.status_code == 400 and "weeks" in r.json()["fields"]
    r = ent.get(url.format("p1"))
    assert r.status_code == 400 and "program_id" in r.json()["fields"]
