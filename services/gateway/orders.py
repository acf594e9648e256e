"""Orders as enterprise unions place, amend and cancel them and as a palace accepts, plans and
records them."""

from __future__ import annotations

from common.errors import Forbidden, Invalid, NotFound
from services.gateway import auth
from services.gateway.http import body, call, http, query


class Orders:
    """Order entrypoints mixed into the gateway service."""

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
