"""gateway: the HTTP JSON API that enterprise unions, dispatchers, volunteers and the audience
use; it calls the services by RPC and owns no data."""

from __future__ import annotations

import datetime as dt
import hmac

import eventlet
from kombu import Connection
from nameko.rpc import RpcProxy
from werkzeug.wrappers import Response

from common.clock import china_day
from common.config import Config, setting
from common.errors import N_, Conflict, NotFound, Unauthorized, load
from common.observability import Metrics
from contracts import payloads as p
from services.gateway import auth
from services.gateway.accounts import Accounts
from services.gateway.alliances import Alliances
from services.gateway.audit import Audit
from services.gateway.catalogue import Catalogue
from services.gateway.erasure import Erasure
from services.gateway.http import Acting, body, call, json_response
from services.gateway.imports import Imports
from services.gateway.inbox import Inbox
from services.gateway.intake import ResponseIntake
from services.gateway.limits import FeedbackLimiter
from services.gateway.mydata import MyData
from services.gateway.openapi import build as build_openapi
from services.gateway.orders import Orders
from services.gateway.pages import qr_matrix, qr_svg
from services.gateway.reports import Reports
from services.gateway.retention import Retention
from services.gateway.routes import PDF, SVG, TEXT, route
from services.gateway.sessions import SessionSignals
from services.gateway.volunteers import Volunteers
from services.gateway.web import Pages

SERVICES = ("orders", "dispatch", "feedback", "accounts", "reporting", "notifications", "audit")


def survey_link(request, token: str) -> str:
    """The audience's survey, as its QR codes (screen and poster) and the poster's text give it."""
    return request.host_url.rstrip("/") + f"/s/{token}"


def check_in_link(request, order_id: str, code: str) -> str:
    """A volunteer's check-in with the delivery's sign-in code filled in, as its QR codes give it."""
    return request.host_url.rstrip("/") + f"/app/volunteer?checkin={order_id}&code={code}"


class GatewayService(
    SessionSignals,
    Accounts,
    Catalogue,
    Volunteers,
    Orders,
    Alliances,
    Reports,
    Imports,
    Inbox,
    Audit,
    MyData,
    Erasure,
    Retention,
    Pages,
):
    name = "gateway"
    metrics = Metrics()

    orders = RpcProxy("orders")
    dispatch = RpcProxy("dispatch")
    feedback = RpcProxy("feedback")
    accounts = RpcProxy("accounts")
    reporting = RpcProxy("reporting")
    notifications = RpcProxy("notifications")
    audit = RpcProxy("audit")
    config = Config()
    limiter = FeedbackLimiter()
    intake = ResponseIntake()
    acting = Acting()

    # ------------------------------------------------------------ health

    @route(
        "GET /healthz",
        tag=N_("运维"),
        summary=N_("健康检查：消息队列、数据库和每个服务都正常时返回 200"),
        response=p.Health,
        roles=auth.PUBLIC,
    )
    def healthz(self, request):
        """200 only when the broker, and every service with its database, answer."""
        checks = {"broker": self._check_broker()}
        pool = eventlet.GreenPool()
        for name, answer in zip(SERVICES, pool.imap(self._ping, SERVICES), strict=True):
            checks[name] = answer
        ok = all(v == "ok" for v in checks.values())
        return (200 if ok else 503), {"status": "ok" if ok else "unavailable", "checks": checks}

    def _check_broker(self) -> str:
        try:
            with eventlet.Timeout(2):
                with Connection(setting(self.config, "AMQP_URI")) as conn:
                    conn.ensure_connection(max_retries=1)
            return "ok"
        except BaseException as err:  # noqa: BLE001 - eventlet.Timeout is a BaseException
            return f"error: {err!r}"[:200]

    def _ping(self, name: str) -> str:
        try:
            return call(getattr(self, name).ping, timeout=2)
        except Exception as err:  # noqa: BLE001
            return f"error: {getattr(err, 'message', None) or repr(err)}"[:200]

    @route(
        "GET /metrics",
        tag=N_("运维"),
        summary=N_("Prometheus 监控指标（设置 METRICS_TOKEN 后需带令牌）"),
        response=TEXT,
        roles=auth.PUBLIC,
    )
    def metrics_page(self, request):
        """Prometheus metrics of this gateway process (calls, latency, errors, queue depth)."""
        from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

        token = setting(self.config, "METRICS_TOKEN")
        if token and not hmac.compare_digest(request.headers.get("Authorization", ""), f"Bearer {token}"):
            raise Unauthorized("请提供监控令牌。")
        return Response(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)

    @route("GET /openapi.json", roles=auth.PUBLIC, documented=False)
    def openapi(self, request):
        """The OpenAPI 3 document of this API, generated from the routes and the contracts."""
        return OPENAPI

    # ------------------------------------------------------------ sign-in

    def _who(self, request) -> dict:
        """The signed-in caller, refused unless of a role the route admits (its ``roles``)."""
        principal = self.sessions.principal(auth.bearer(request), lambda token: call(self.accounts.session, token))
        auth.allow(principal, request.route.roles)
        self.acting(principal, auth.client_address(request, setting(self.config, "TRUSTED_PROXY")))
        return principal

    def _feed_secret(self) -> str:
        return setting(self.config, "FEED_SECRET")

    # ------------------------------------------------------------ the day of a delivery

    def _attendance(self, request, order_id: str, verb: str):
        who, _ = self._order(request, order_id)
        data = body(request)
        if who["role"] == "volunteer":
            data["volunteer_id"] = who["volunteer_id"]
            if setting(self.config, "DAY_CLOCK") != "recorded":
                data.pop("at", None)  # a volunteer's check-in and -out are the moment they are sent
        if verb == "check_in":
            return call(self.dispatch.check_in, order_id, data, staff=who["role"] != "volunteer")
        return call(getattr(self.dispatch, verb), order_id, data)

    @route(
        "POST /api/orders/<order_id>/check-in",
        tag=N_("志愿者"),
        summary=N_("服务当天签到"),
        body=p.CheckInOut,
        response=p.Attendance,
        roles=auth.VOLUNTEER_AND_STAFF,
    )
    def check_in(self, request, order_id):
        return self._attendance(request, order_id, "check_in")

    @route(
        "POST /api/orders/<order_id>/check-out",
        tag=N_("志愿者"),
        summary=N_("服务当天签退"),
        body=p.CheckInOut,
        response=p.Attendance,
        roles=auth.VOLUNTEER_AND_STAFF,
    )
    def check_out(self, request, order_id):
        return self._attendance(request, order_id, "check_out")

    # ------------------------------------------------------------ feedback

    @route(
        "GET /api/orders/<order_id>/survey",
        tag=N_("评议"),
        summary=N_("本次服务的评议二维码链接"),
        response=p.SurveyLink,
        roles=auth.ENTERPRISE_AND_STAFF,
    )
    def order_survey(self, request, order_id):
        self._order(request, order_id)
        survey = call(self.feedback.get_survey_by_order, order_id)
        return {**survey, "link": f"/s/{survey['token']}", "api": f"/api/surveys/{survey['token']}"}

    @route(
        "GET /api/orders/<order_id>/survey/qr.svg",
        tag=N_("评议"),
        summary=N_("评议二维码（SVG），给工人扫码"),
        response=SVG,
        roles=auth.ENTERPRISE_AND_STAFF,
    )
    def survey_qr(self, request, order_id):
        """The QR code the enterprise union shows its workers (SVG, prints sharp): there from the
        scheduling on; the survey takes answers once the delivery is recorded."""
        self._order(request, order_id)
        survey = call(self.feedback.get_survey_by_order, order_id)
        link = survey_link(request, survey["token"])
        return Response(
            qr_svg(link), content_type="image/svg+xml; charset=utf-8", headers={"Cache-Control": "private, no-store"}
        )

    @route(
        "GET /api/orders/<order_id>/sign-in/qr.svg",
        tag=N_("订单"),
        summary=N_("签到二维码（SVG）：志愿者扫码打开签到，签到码已填好"),
        response=SVG,
        roles=auth.ENTERPRISE_AND_STAFF,
    )
    def sign_in_qr(self, request, order_id):
        """The check-in QR code the enterprise union shows on site: a volunteer's phone opens
        their check-in with the delivery's sign-in code filled in."""
        self._order(request, order_id)
        code = call(self.dispatch.get_plan, order_id).get("sign_in_code")
        if not code:
            raise Conflict("这次服务还没有排定，没有签到码。", "NOT_SCHEDULED")
        link = check_in_link(request, order_id, code)
        return Response(
            qr_svg(link, "扫码签到"),
            content_type="image/svg+xml; charset=utf-8",
            headers={"Cache-Control": "private, no-store"},
        )

    @route(
        "GET /api/orders/<order_id>/poster.pdf",
        tag=N_("订单"),
        summary=N_(
            "活动海报（A4 PDF）：节目、时间、地点、评议二维码；第二页为志愿者签到二维码和签到码（排定后可下载）"
        ),
        response=PDF,
        roles=auth.ENTERPRISE_AND_STAFF,
    )
    def poster(self, request, order_id):
        """The A4 poster of a scheduled delivery: program, time, place and the survey's QR code to
        pin up; on a second page the volunteers' check-in QR code with the sign-in code."""
        from services.gateway.pdf import china_time, poster
        from services.gateway.reports import file_response

        _, order = self._order(request, order_id)
        if order["status"] not in ("scheduled", "delivered", "closed"):
            raise Conflict("这次服务还没有排定，排定后才能下载海报。", "NOT_SCHEDULED")
        plan = call(self.dispatch.get_plan, order_id)
        try:
            survey = call(self.feedback.get_survey_by_order, order_id)
        except NotFound:  # the scheduling reached orders before feedback: a moment later it is there
            raise Conflict("海报正在准备，请稍后再试。", "POSTER_NOT_READY") from None
        palace = self._palace(order["palace_id"])
        survey_at = survey_link(request, survey["token"])
        check_in_at = check_in_link(request, order_id, plan["sign_in_code"])
        start, end = (dt.datetime.fromisoformat(plan[k]) for k in ("start", "end"))
        title = (order.get("program_title") or order.get("custom_request") or "送文化服务")[:40]
        data = poster(
            {
                "title": title,
                "palace": palace.get("name") or order["palace_id"],
                "when": china_time(start, end),
                "site": order["site_address"],
                "district": order["district"],
            },
            survey_at,
            qr_matrix(survey_at),
            check_in_at,
            qr_matrix(check_in_at),
            plan["sign_in_code"],
        )
        day = china_day(start).strftime("%Y%m%d")
        return file_response(data, "application/pdf", f"海报_{title}_{day}.pdf")

    @route(
        "POST /api/orders/<order_id>/survey/close",
        tag=N_("评议"),
        summary=N_("结束评议"),
        response=p.SurveyOut,
        roles=auth.STAFF,
    )
    def close_survey(self, request, order_id):
        self._order(request, order_id)
        survey = call(self.feedback.get_survey_by_order, order_id)
        self.intake.forget(survey["token"])
        return call(self.feedback.close_survey, survey["survey_id"])

    @route(
        "GET /api/surveys/<token>",
        tag=N_("评议"),
        summary=N_("观众评议表（匿名）"),
        response=p.PublicSurvey,
        roles=auth.PUBLIC,
    )
    def public_survey(self, request, token):
        self.limiter.check_client(request)
        return call(self.feedback.get_public_survey, token)

    @route(
        "POST /api/surveys/<token>/responses",
        tag=N_("评议"),
        summary=N_("提交一份匿名评议（已收到即答 202，数秒内计入）"),
        body=p.SubmitResponse,
        status=202,
        response=p.ResponseAccepted,
        roles=auth.PUBLIC,
    )
    def respond(self, request, token):
        self.limiter.check_client(request)
        self.limiter.check_survey(token)
        answer = load(p.SubmitResponse, body(request))
        return self.intake.accept(token, answer, lambda tokens: call(self.feedback.intake_surveys, tokens))


OPENAPI = build_openapi(GatewayService)

__all__ = ["GatewayService", "json_response"]
