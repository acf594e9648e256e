"""gateway: the HTTP JSON API that enterprise unions, dispatchers, volunteers and the audience
use; it calls the services by RPC and owns no data."""

from __future__ import annotations

import datetime as dt
import hmac

import eventlet
from kombu import Connection
from nameko.rpc import RpcProxy
from werkzeug.wrappers import Response

from common.config import Config, setting
from common.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized, load
from common.observability import Metrics
from contracts import payloads
from services.gateway import auth
from services.gateway.alliances import Alliances
from services.gateway.calendar import feed_token, schedule_ics, volunteer_of
from services.gateway.http import body, call, http, json_response, query
from services.gateway.inbox import Inbox
from services.gateway.intake import ResponseIntake
from services.gateway.limits import FeedbackLimiter
from services.gateway.openapi import build as build_openapi
from services.gateway.pages import qr_matrix, qr_svg
from services.gateway.reports import Reports
from services.gateway.sessions import SessionSignals
from services.gateway.web import Pages

SERVICES = ("orders", "dispatch", "feedback", "accounts", "reporting", "notifications")
OPENAPI = build_openapi()


def survey_link(request, token: str) -> str:
    """The audience's survey, as its QR codes (screen and poster) and the poster's text give it."""
    return request.host_url.rstrip("/") + f"/s/{token}"


def check_in_link(request, order_id: str, code: str) -> str:
    """A volunteer's check-in with the delivery's sign-in code filled in, as its QR codes give it."""
    return request.host_url.rstrip("/") + f"/app/volunteer?checkin={order_id}&code={code}"


class GatewayService(SessionSignals, Pages, Reports, Inbox, Alliances):
    name = "gateway"
    metrics = Metrics()

    orders = RpcProxy("orders")
    dispatch = RpcProxy("dispatch")
    feedback = RpcProxy("feedback")
    accounts = RpcProxy("accounts")
    reporting = RpcProxy("reporting")
    notifications = RpcProxy("notifications")
    config = Config()
    limiter = FeedbackLimiter()
    intake = ResponseIntake()

    # ------------------------------------------------------------ health

    @http("GET", "/healthz")
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

    @http("GET", "/metrics")
    def metrics_page(self, request):
        """Prometheus metrics of this gateway process (calls, latency, errors, queue depth)."""
        from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

        token = setting(self.config, "METRICS_TOKEN")
        if token and not hmac.compare_digest(request.headers.get("Authorization", ""), f"Bearer {token}"):
            raise Unauthorized("请提供监控令牌。")
        return Response(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)

    @http("GET", "/openapi.json")
    def openapi(self, request):
        """The OpenAPI 3 document of this API, generated from the contracts."""
        return OPENAPI

    # ------------------------------------------------------------ sign-in

    def _who(self, request, roles: tuple[str, ...] = auth.ALL) -> dict:
        principal = self.sessions.principal(auth.bearer(request), lambda token: call(self.accounts.session, token))
        return auth.allow(principal, roles)

    @http("POST", "/api/login")
    def login(self, request):
        """Username and password → a bearer token that expires."""
        return call(self.accounts.login, body(request))

    @http("POST", "/api/logout")
    def logout(self, request):
        token = auth.bearer(request)
        self.sessions.ended(token)
        return call(self.accounts.logout, token)

    @http("GET", "/api/me")
    def me(self, request):
        return self._who(request)

    # ------------------------------------------------------------ registration

    @http("POST", "/api/register")
    def register(self, request):
        """An enterprise union or a volunteer registers; a dispatcher of the palace approves."""
        self.limiter.check_client(request)
        data = body(request)
        if isinstance(data.get("palace_id"), str):
            palaces = {p["palace_id"] for p in call(self.dispatch.list_palaces)}
            if data["palace_id"] not in palaces:
                raise Invalid("提交的内容有误，请检查标出的字段。", fields={"palace_id": ["没有这个文化宫。"]})
        return 201, call(self.accounts.register, data)

    @http("GET", "/api/registrations")
    def registrations(self, request):
        who = self._who(request, auth.STAFF)
        q = query(request, ("palace_id", "status"))
        return call(
            self.accounts.list_registrations, auth.palace_scope(who, q.get("palace_id")), q.get("status") or "pending"
        )

    def _registration(self, request, username: str) -> tuple[dict, dict]:
        who = self._who(request, auth.STAFF)
        registration = call(self.accounts.get_registration, username)
        auth.palace_scope(who, registration["palace_id"])
        return who, registration

    @http("POST", "/api/registrations/<username>/approve")
    def approve_registration(self, request, username):
        """Approve: the enterprise union or volunteer record is created, then the account opens.
        Approving again repeats nothing (both steps are keyed by the registration)."""
        who, reg = self._registration(request, username)
        if reg["status"] == "rejected":
            raise Conflict("这份注册申请已经被拒绝了。", "REGISTRATION_DECIDED")
        profile = reg["profile"]
        if reg["role"] == "enterprise":
            call(
                self.orders.register_enterprise,
                {"enterprise_id": reg["enterprise_id"], "palace_id": reg["palace_id"], **profile},
            )
        else:
            call(
                self.dispatch.upsert_volunteer,
                {
                    "volunteer_id": reg["volunteer_id"],
                    "palace_id": reg["palace_id"],
                    "union_card": reg["union_card"],
                    **profile,
                },
            )
        return call(self.accounts.approve_registration, username, who["username"])

    @http("POST", "/api/registrations/<username>/reject")
    def reject_registration(self, request, username):
        who, _ = self._registration(request, username)
        return call(self.accounts.reject_registration, username, body(request), who["username"])

    # ------------------------------------------------------------ catalog and people

    @http("GET", "/api/palaces")
    def palaces(self, request):
        self._who(request)
        return call(self.dispatch.list_palaces)

    @http("PUT", "/api/palaces/<palace_id>")
    def upsert_palace(self, request, palace_id):
        """A palace's settings: offer deadline, planning rules, the planner's weights, districts."""
        who = self._who(request, auth.STAFF)
        auth.palace_scope(who, palace_id)
        return call(self.dispatch.upsert_palace, {**body(request), "palace_id": palace_id})

    @http("POST", "/api/palaces/<palace_id>/replan")
    def replan(self, request, palace_id):
        """Re-plan every open order of a period together."""
        who = self._who(request, auth.STAFF)
        auth.palace_scope(who, palace_id)
        return call(self.dispatch.replan, palace_id, body(request), timeout=120)

    @http("GET", "/api/palaces/<palace_id>/board")
    def board(self, request, palace_id):
        """The dispatcher's board: orders by status, offers waiting, and those due in six hours."""
        who = self._who(request, auth.STAFF)
        auth.palace_scope(who, palace_id)
        pending = call(self.dispatch.list_pending_offers, palace_id)
        soon = dt.datetime.now(dt.UTC) + dt.timedelta(hours=6)
        return {
            "palace_id": palace_id,
            "orders": call(self.orders.count_by_status, palace_id),
            "offers_pending": len(pending),
            "offers_due_soon": [o for o in pending if dt.datetime.fromisoformat(o["deadline"]) <= soon][:50],
        }

    @http("GET", "/api/palaces/<palace_id>/deliveries")
    def deliveries(self, request, palace_id):
        """The palace's calendar of deliveries in a period (?start=&end=)."""
        who = self._who(request, auth.STAFF)
        auth.palace_scope(who, palace_id)
        # a "+08:00" typed into an address arrives as " 08:00"
        period = {k: v.replace(" ", "+") for k, v in query(request, ("start", "end")).items()}
        return call(self.dispatch.deliveries, palace_id, period)

    @http("GET", "/api/no-shows")
    def no_shows(self, request):
        who = self._who(request, auth.STAFF)
        q = query(request, ("palace_id", "volunteer_id"))
        palace = auth.palace_scope(who, q.get("palace_id"))
        if palace is None and not q.get("volunteer_id"):
            raise Invalid("请指定文化宫或志愿者。", fields={"palace_id": ["请指定文化宫或志愿者。"]})
        return call(self.dispatch.list_no_shows, palace, q.get("volunteer_id"))

    @http("POST", "/api/no-shows/<no_show_id>/clear")
    def clear_no_show(self, request, no_show_id):
        who = self._who(request, auth.STAFF)
        record = call(self.dispatch.get_no_show, no_show_id)
        auth.palace_scope(who, record["palace_id"])
        return call(self.dispatch.clear_no_show, no_show_id, body(request))

    @http("GET", "/api/programs")
    def programs(self, request):
        self._who(request)
        return call(self.dispatch.list_programs, query(request, ("palace_id",)).get("palace_id"))

    @http("GET", "/api/programs/<program_id>")
    def program(self, request, program_id):
        self._who(request)
        return call(self.dispatch.get_program, program_id)

    @http("GET", "/api/enterprises")
    def enterprises(self, request):
        who = self._who(request, auth.STAFF)
        palace = auth.palace_scope(who, query(request, ("palace_id",)).get("palace_id"))
        return call(self.orders.list_enterprises, palace)

    @http("GET", "/api/enterprises/<enterprise_id>")
    def enterprise(self, request, enterprise_id):
        """An enterprise union's record (its district is the order form's default): the union
        itself, its palace's dispatchers, admins."""
        who = self._who(request, ("enterprise", "dispatcher", "admin"))
        if who["role"] == "enterprise" and who.get("enterprise_id") != enterprise_id:
            raise Forbidden("您只能查看本单位的信息。")
        record = call(self.orders.get_enterprise, enterprise_id)
        if who["role"] == "dispatcher":
            auth.palace_scope(who, record["palace_id"])
        return record

    @http("GET", "/api/troupes")
    def troupes(self, request):
        who = self._who(request, auth.STAFF)
        return call(self.dispatch.list_troupes, auth.palace_scope(who, query(request, ("palace_id",)).get("palace_id")))

    @http("GET", "/api/volunteers")
    def volunteers(self, request):
        who = self._who(request, auth.STAFF)
        palace = auth.palace_scope(who, query(request, ("palace_id",)).get("palace_id"))
        return call(self.dispatch.list_volunteers, palace)

    def _own_palace(self, request, data: dict) -> dict:
        """A dispatcher manages their own palace's records; the palace comes from the account."""
        who = self._who(request, auth.STAFF)
        if who["role"] == "dispatcher":
            data["palace_id"] = auth.palace_scope(
                who, data.get("palace_id") if isinstance(data.get("palace_id"), str) else None
            )
        return who

    def _managed(self, request, kind: str, record_id: str) -> dict:
        data = body(request)
        data[f"{kind}_id"] = record_id
        who = self._own_palace(request, data)
        try:
            existing = call(getattr(self.dispatch, f"get_{kind}"), record_id)
        except NotFound:
            existing = None
        if existing is not None and who["role"] == "dispatcher":
            auth.palace_scope(who, existing["palace_id"])  # another palace's record is not yours to change
        return data

    @http("PUT", "/api/programs/<program_id>")
    def upsert_program(self, request, program_id):
        """Add or change a catalog program (what it needs on site and in people)."""
        return call(self.dispatch.upsert_program, self._managed(request, "program", program_id))

    @http("PUT", "/api/troupes/<troupe_id>")
    def upsert_troupe(self, request, troupe_id):
        """Add or change a troupe: members and the programs it plays."""
        return call(self.dispatch.upsert_troupe, self._managed(request, "troupe", troupe_id))

    @http("PUT", "/api/volunteers/<volunteer_id>")
    def upsert_volunteer(self, request, volunteer_id):
        """Add or change a volunteer: skills, district, limits and wishes."""
        return call(self.dispatch.upsert_volunteer, self._managed(request, "volunteer", volunteer_id))

    def _volunteer(self, request, volunteer_id: str) -> tuple[dict, dict]:
        who = self._who(request, ("volunteer", "dispatcher", "admin"))
        volunteer = call(self.dispatch.get_volunteer, volunteer_id)
        auth.check_volunteer(who, volunteer)
        return who, volunteer

    @http("GET", "/api/volunteers/<volunteer_id>")
    def volunteer(self, request, volunteer_id):
        return self._volunteer(request, volunteer_id)[1]

    @http("PUT", "/api/volunteers/<volunteer_id>/availability")
    def availability(self, request, volunteer_id):
        self._volunteer(request, volunteer_id)
        return call(self.dispatch.set_availability, volunteer_id, body(request))

    @http("GET", "/api/volunteers/<volunteer_id>/offers")
    def volunteer_offers(self, request, volunteer_id):
        who, _ = self._volunteer(request, volunteer_id)
        offers = call(self.dispatch.list_offers, volunteer_id, query(request, ("status",)).get("status"))
        return [auth.trim_offer(who, o) for o in offers]

    @http("GET", "/api/volunteers/<volunteer_id>/hours")
    def volunteer_hours(self, request, volunteer_id):
        """Service hours by delivery, with totals for this month, this year and in all."""
        self._volunteer(request, volunteer_id)
        return call(self.dispatch.volunteer_hours, volunteer_id)

    def _feed_secret(self) -> str:
        return setting(self.config, "FEED_SECRET")

    @http("GET", "/api/volunteers/<volunteer_id>/calendar")
    def calendar_link(self, request, volunteer_id):
        """The address of the volunteer's schedule feed (.ics) for a phone's calendar app."""
        self._volunteer(request, volunteer_id)
        path = f"/ics/{feed_token(self._feed_secret(), volunteer_id)}.ics"
        host = request.host_url.rstrip("/")
        return {"url": host + path, "webcal": "webcal://" + host.split("://", 1)[-1] + path}

    @http("GET", "/ics/<token>")
    def calendar_feed(self, request, token):
        volunteer_id = volunteer_of(self._feed_secret(), token)
        volunteer = call(self.dispatch.get_volunteer, volunteer_id)
        offers = call(self.dispatch.list_offers, volunteer_id, "accepted")
        return Response(
            schedule_ics(volunteer.get("name"), offers),
            content_type="text/calendar; charset=utf-8",
            headers={"Cache-Control": "private, max-age=300"},
        )

    def _answer(self, request, offer_id: str, verb: str):
        who = self._who(request, ("volunteer",))
        data = {**body(request, required=False), "volunteer_id": who["volunteer_id"]}
        return call(getattr(self.dispatch, f"{verb}_offer"), offer_id, data)

    @http("POST", "/api/offers/<offer_id>/accept")
    def accept_offer(self, request, offer_id):
        return self._answer(request, offer_id, "accept")

    @http("POST", "/api/offers/<offer_id>/decline")
    def decline_offer(self, request, offer_id):
        return self._answer(request, offer_id, "decline")

    @http("POST", "/api/offers/<offer_id>/swap")
    def swap_offer(self, request, offer_id):
        """Hand an accepted assignment to a colleague, who must accept it."""
        who = self._who(request, ("volunteer",))
        data = {**body(request), "volunteer_id": who["volunteer_id"]}
        return 201, call(self.dispatch.propose_swap, offer_id, data)

    # ------------------------------------------------------------ orders

    def _program_title(self, data: dict, palace_id: str | None = None) -> str | None:
        """The title of the program asked for; it must be of the palace the order goes to."""
        program_id = data.get("program_id")
        if not program_id or not isinstance(program_id, str):
            return None
        try:
            program = call(self.dispatch.get_program, program_id)
        except NotFound:
            raise Invalid("提交的内容有误，请检查标出的字段。", fields={"program_id": ["没有这个节目。"]}) from None
        if isinstance(palace_id, str) and program["palace_id"] != palace_id:
            raise Invalid("提交的内容有误，请检查标出的字段。", fields={"program_id": ["这个节目不属于所选文化宫。"]})
        return program["title"]

    def _palace(self, palace_id: str) -> dict:
        """A palace's record (its name and settings); empty when there is none."""
        return next((p for p in call(self.dispatch.list_palaces) if p["palace_id"] == palace_id), {})

    def _time_rules(self, palace_id: str, urgent: bool = False) -> dict:
        """The palace's booking rules, passed to orders with the order."""
        palace = self._palace(palace_id)
        return {
            "min_lead_hours": palace.get("min_lead_hours"),
            "horizon_days": palace.get("horizon_days"),
            "urgent": urgent,
        }

    def _placing(self, request) -> tuple[dict, dict, dict]:
        """An order as placed: by an enterprise union for itself, or by a dispatcher (an admin)
        for a union of their palace, then `urgent` may skip the lead time. The order goes to the
        union's own palace, or to a palace of its alliance named in `palace_id`, and only for a
        program of that palace. Returns the payload for orders, the palace's time rules and who
        placed it."""
        who = self._who(request, ("enterprise", "dispatcher", "admin"))
        by = {"username": who["username"], "role": who["role"]}
        data = body(request)
        urgent = data.pop("urgent", False)
        if not isinstance(urgent, bool):
            raise Invalid("提交的内容有误，请检查标出的字段。", fields={"urgent": ["应为 true 或 false。"]})
        if who["role"] == "enterprise":
            if urgent:
                raise Invalid(
                    "提交的内容有误，请检查标出的字段。", fields={"urgent": ["加急订单只能由文化宫调度员代下。"]}
                )
            data["enterprise_id"] = who["enterprise_id"]
            home = who["palace_id"]
        else:
            enterprise_id = data.get("enterprise_id")
            try:
                enterprise = call(self.orders.get_enterprise, enterprise_id) if isinstance(enterprise_id, str) else None
            except NotFound:
                enterprise = None
            if enterprise is None:
                raise Invalid(
                    "提交的内容有误，请检查标出的字段。", fields={"enterprise_id": ["请选择下单的企业工会。"]}
                )
            auth.palace_scope(who, enterprise["palace_id"])  # a dispatcher orders for their palace's unions
            home = enterprise["palace_id"]
        palace_id = data.setdefault("palace_id", home)
        if isinstance(palace_id, str) and palace_id != home:
            allied = {p for a in call(self.dispatch.list_alliances, home) for p in a["palace_ids"]}
            if palace_id not in allied:
                raise Invalid(
                    "提交的内容有误，请检查标出的字段。",
                    fields={"palace_id": ["只能向本单位所属的文化宫或其联盟内的文化宫点单。"]},
                )
        if not isinstance(palace_id, str):
            return data, {}, by  # the contract refuses it with its message
        return data, self._time_rules(palace_id, urgent), by

    def _order(self, request, order_id: str, roles: tuple[str, ...], crew_may_see: bool = False) -> tuple[dict, dict]:
        who = self._who(request, roles)
        order = call(self.orders.get_order, order_id)
        crew = None
        if crew_may_see and who["role"] == "volunteer":
            try:
                crew = {o["volunteer_id"] for o in call(self.dispatch.get_plan, order_id)["offers"]}
            except NotFound:
                crew = set()
        auth.check_order(who, order, roles, crew)
        return who, order

    @http("POST", "/api/orders")
    def place_order(self, request):
        """An enterprise union orders; a dispatcher may order for a union of their palace, with
        `urgent: true` sooner than the palace's lead time."""
        data, rules, by = self._placing(request)
        title = self._program_title(data, data["palace_id"])
        return 201, call(self.orders.place_order, data, program_title=title, rules=rules, placed_by=by)

    @http("POST", "/api/orders/recurring")
    def place_recurring(self, request):
        """A series of orders, e.g. a weekly class for eight weeks (an iCalendar RRULE)."""
        data, rules, by = self._placing(request)
        title = self._program_title(data, data["palace_id"])
        return 201, call(self.orders.place_recurring, data, program_title=title, rules=rules, placed_by=by)

    @http("GET", "/api/orders")
    def list_orders(self, request):
        who = self._who(request, ("enterprise", "dispatcher", "admin"))
        q = query(request, ("enterprise_id", "palace_id", "status", "page", "per_page"))
        if who["role"] == "enterprise":
            if q.get("enterprise_id", who["enterprise_id"]) != who["enterprise_id"]:
                raise Forbidden("您只能查看本单位的订单。")
            q["enterprise_id"] = who["enterprise_id"]
        elif who["role"] == "dispatcher":
            q["palace_id"] = auth.palace_scope(who, q.get("palace_id"))
        return call(self.orders.list_orders, q)

    @http("GET", "/api/orders/<order_id>")
    def get_order(self, request, order_id):
        return self._order(request, order_id, ("enterprise", "dispatcher", "admin"))[1]

    @http("PATCH", "/api/orders/<order_id>")
    def amend_order(self, request, order_id):
        _, order = self._order(request, order_id, ("enterprise",))
        data = body(request)
        title = self._program_title(data, order["palace_id"])
        rules = self._time_rules(order["palace_id"]) if "windows" in data else None
        return call(self.orders.amend_order, order_id, data, program_title=title, rules=rules)

    @http("POST", "/api/orders/<order_id>/cancel")
    def cancel_order(self, request, order_id):
        self._order(request, order_id, ("enterprise",))
        return call(self.orders.cancel_order, order_id, body(request, required=False))

    @http("POST", "/api/orders/<order_id>/accept")
    def accept_order(self, request, order_id):
        _, order = self._order(request, order_id, auth.STAFF)
        data = body(request, required=False)
        return call(
            self.orders.accept_order, order_id, data, program_title=self._program_title(data, order["palace_id"])
        )

    @http("POST", "/api/orders/<order_id>/reject")
    def reject_order(self, request, order_id):
        self._order(request, order_id, auth.STAFF)
        return call(self.orders.reject_order, order_id, body(request))

    @http("POST", "/api/orders/<order_id>/confirm")
    def confirm_delivery(self, request, order_id):
        self._order(request, order_id, ("enterprise",))
        return call(self.orders.confirm_delivery, order_id)

    @http("GET", "/api/orders/<order_id>/plan")
    def plan(self, request, order_id):
        who, _ = self._order(request, order_id, ("enterprise", "dispatcher", "volunteer", "admin"), crew_may_see=True)
        return auth.trim_plan(who, call(self.dispatch.get_plan, order_id))

    def _attendance(self, request, order_id: str, verb: str):
        who, _ = self._order(request, order_id, ("volunteer", "dispatcher", "admin"), crew_may_see=True)
        data = body(request)
        if who["role"] == "volunteer":
            data["volunteer_id"] = who["volunteer_id"]
            if setting(self.config, "DAY_CLOCK") != "recorded":
                data.pop("at", None)  # a volunteer's check-in and -out are the moment they are sent
        if verb == "check_in":
            return call(self.dispatch.check_in, order_id, data, staff=who["role"] != "volunteer")
        return call(getattr(self.dispatch, verb), order_id, data)

    @http("POST", "/api/orders/<order_id>/check-in")
    def check_in(self, request, order_id):
        return self._attendance(request, order_id, "check_in")

    @http("POST", "/api/orders/<order_id>/check-out")
    def check_out(self, request, order_id):
        return self._attendance(request, order_id, "check_out")

    @http("POST", "/api/orders/<order_id>/complete")
    def complete(self, request, order_id):
        self._order(request, order_id, auth.STAFF)
        return call(self.dispatch.complete_delivery, order_id, body(request))

    @http("POST", "/api/orders/<order_id>/plan/assign")
    def assign(self, request, order_id):
        """The dispatcher's own choice for a role (hard rules still hold)."""
        who, _ = self._order(request, order_id, auth.STAFF)
        return 201, call(self.dispatch.assign, order_id, body(request), by=who["username"])

    @http("POST", "/api/orders/<order_id>/no-show")
    def no_show(self, request, order_id):
        who, _ = self._order(request, order_id, auth.STAFF)
        return 201, call(self.dispatch.report_no_show, order_id, body(request), by=who["username"])

    @http("POST", "/api/orders/<order_id>/hours")
    def grant_hours(self, request, order_id):
        who, _ = self._order(request, order_id, auth.STAFF)
        return 201, call(self.dispatch.grant_hours, order_id, body(request), by=who["username"])

    # ------------------------------------------------------------ feedback

    @http("GET", "/api/orders/<order_id>/survey")
    def order_survey(self, request, order_id):
        self._order(request, order_id, ("enterprise", "dispatcher", "admin"))
        survey = call(self.feedback.get_survey_by_order, order_id)
        return {**survey, "link": f"/s/{survey['token']}", "api": f"/api/surveys/{survey['token']}"}

    @http("GET", "/api/orders/<order_id>/survey/qr.svg")
    def survey_qr(self, request, order_id):
        """The QR code the enterprise union shows its workers (SVG, prints sharp): there from the
        scheduling on; the survey takes answers once the delivery is recorded."""
        self._order(request, order_id, ("enterprise", "dispatcher", "admin"))
        survey = call(self.feedback.get_survey_by_order, order_id)
        link = survey_link(request, survey["token"])
        return Response(
            qr_svg(link), content_type="image/svg+xml; charset=utf-8", headers={"Cache-Control": "private, no-store"}
        )

    @http("GET", "/api/orders/<order_id>/sign-in/qr.svg")
    def sign_in_qr(self, request, order_id):
        """The check-in QR code the enterprise union shows on site: a volunteer's phone opens
        their check-in with the delivery's sign-in code filled in."""
        self._order(request, order_id, ("enterprise", "dispatcher", "admin"))
        code = call(self.dispatch.get_plan, order_id).get("sign_in_code")
        if not code:
            raise Conflict("这次服务还没有排定，没有签到码。", "NOT_SCHEDULED")
        link = check_in_link(request, order_id, code)
        return Response(
            qr_svg(link, "扫码签到"),
            content_type="image/svg+xml; charset=utf-8",
            headers={"Cache-Control": "private, no-store"},
        )

    @http("GET", "/api/orders/<order_id>/poster.pdf")
    def poster(self, request, order_id):
        """The A4 poster of a scheduled delivery: program, time, place and the survey's QR code to
        pin up; on a second page the volunteers' check-in QR code with the sign-in code."""
        from services.gateway.pdf import china_time, poster
        from services.gateway.reports import file_response

        _, order = self._order(request, order_id, ("enterprise", "dispatcher", "admin"))
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
        day = start.astimezone(dt.timezone(dt.timedelta(hours=8))).strftime("%Y%m%d")
        return file_response(data, "application/pdf", f"海报_{title}_{day}.pdf")

    @http("POST", "/api/orders/<order_id>/survey/close")
    def close_survey(self, request, order_id):
        self._order(request, order_id, auth.STAFF)
        survey = call(self.feedback.get_survey_by_order, order_id)
        self.intake.forget(survey["token"])
        return call(self.feedback.close_survey, survey["survey_id"])

    @http("GET", "/api/surveys/<token>")
    def public_survey(self, request, token):
        self.limiter.check_client(request)
        return call(self.feedback.get_public_survey, token)

    @http("POST", "/api/surveys/<token>/responses")
    def respond(self, request, token):
        self.limiter.check_client(request)
        self.limiter.check_survey(token)
        answer = load(payloads.SubmitResponse, body(request))
        return 202, self.intake.accept(token, answer, lambda tokens: call(self.feedback.intake_surveys, tokens))


__all__ = ["GatewayService", "json_response"]
