"""Orders as enterprise unions place, amend and cancel them and as a palace accepts, plans and
records them."""

from __future__ import annotations

from common.errors import N_, Forbidden, Invalid, NotFound
from contracts import payloads as p
from services.gateway import auth
from services.gateway.http import body, call, query
from services.gateway.routes import route


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
            raise Invalid("提交的内容有误，请检查标出的字段。", fields={"program_id": [N_("没有这个节目。")]}) from None
        if isinstance(palace_id, str) and program["palace_id"] != palace_id:
            raise Invalid(
                "提交的内容有误，请检查标出的字段。", fields={"program_id": [N_("这个节目不属于所选文化宫。")]}
            )
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
        who = self._who(request)
        by = {"username": who["username"], "role": who["role"]}
        data = body(request)
        urgent = data.pop("urgent", False)
        if not isinstance(urgent, bool):
            raise Invalid("提交的内容有误，请检查标出的字段。", fields={"urgent": [N_("应为 true 或 false。")]})
        if who["role"] == "enterprise":
            if urgent:
                raise Invalid(
                    "提交的内容有误，请检查标出的字段。", fields={"urgent": [N_("加急订单只能由文化宫调度员代下。")]}
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
                    "提交的内容有误，请检查标出的字段。", fields={"enterprise_id": [N_("请选择下单的企业工会。")]}
                )
            auth.palace_scope(who, enterprise["palace_id"])  # a dispatcher orders for their palace's unions
            home = enterprise["palace_id"]
        palace_id = data.setdefault("palace_id", home)
        if isinstance(palace_id, str) and palace_id != home:
            allied = {p for a in call(self.dispatch.list_alliances, home) for p in a["palace_ids"]}
            if palace_id not in allied:
                raise Invalid(
                    "提交的内容有误，请检查标出的字段。",
                    fields={"palace_id": [N_("只能向本单位所属的文化宫或其联盟内的文化宫点单。")]},
                )
        if not isinstance(palace_id, str):
            return data, {}, by  # the contract refuses it with its message
        return data, self._time_rules(palace_id, urgent), by

    def _order(self, request, order_id: str) -> tuple[dict, dict]:
        """The order, if it is the caller's to touch; a volunteer (where the route admits one) only
        touches the orders they serve on."""
        who = self._who(request)
        order = call(self.orders.get_order, order_id)
        crew = None
        if who["role"] == "volunteer":
            try:
                crew = {o["volunteer_id"] for o in call(self.dispatch.get_plan, order_id)["offers"]}
            except NotFound:
                crew = set()
        auth.check_order(who, order, request.route.roles, crew)
        return who, order

    @route(
        "POST /api/orders",
        tag=N_("订单"),
        summary=N_(
            "下单：企业工会为本单位下单；调度员可为本文化宫的企业工会代下单，加急（urgent）时不受提前预约时间限制"
        ),
        body=p.PlaceOrderRequest,
        status=201,
        response=p.OrderOut,
        roles=auth.ENTERPRISE_AND_STAFF,
    )
    def place_order(self, request):
        """An enterprise union orders; a dispatcher may order for a union of their palace, with
        `urgent: true` sooner than the palace's lead time."""
        data, rules, by = self._placing(request)
        title = self._program_title(data, data["palace_id"])
        return call(self.orders.place_order, data, program_title=title, rules=rules, placed_by=by)

    @route(
        "GET /api/palaces/<palace_id>/staffable-windows",
        tag=N_("订单"),
        summary=N_(
            "下单前：所选节目在未来几周（weeks，默认 3）里文化宫现在排得出人的几个时间段，每天至多一个（只读，不占用任何人）"
        ),
        response=[p.StaffableWindow],
        query=("program_id", "district", "weeks"),
        roles=auth.ENTERPRISE_AND_STAFF,
    )
    def staffable_windows(self, request, palace_id):
        """The order form's suggested dates: a union asks of its own palace or an allied one, a
        dispatcher of their palace; the district is the union's own unless given."""
        who = self._who(request)
        q = query(request)
        if who["role"] == "enterprise":
            home = who["palace_id"]
            allied = {p for a in call(self.dispatch.list_alliances, home) for p in a["palace_ids"]}
            if palace_id != home and palace_id not in allied:
                raise Forbidden("只能向本单位所属的文化宫或其联盟内的文化宫点单。")
        else:
            auth.palace_scope(who, palace_id)
        if not q.get("program_id"):
            raise Invalid("查询参数有误。", fields={"program_id": [N_("请选择节目。")]})
        try:
            weeks = int(q.get("weeks", 3))
        except ValueError:
            weeks = 0
        if not 1 <= weeks <= 6:
            raise Invalid("查询参数有误。", fields={"weeks": [N_("应为 1 到 6 之间的整数。")]})
        district = q.get("district")
        if not district and who["role"] == "enterprise":
            district = call(self.orders.get_enterprise, who["enterprise_id"]).get("district")
        if not district:
            raise Invalid("查询参数有误。", fields={"district": [N_("请选择所在区域。")]})
        return call(self.dispatch.staffable_windows, palace_id, q["program_id"], district, weeks)

    @route(
        "POST /api/orders/recurring",
        tag=N_("订单"),
        summary=N_("按重复规则（RRULE）一次下一系列订单，重复提交不会重复下单"),
        body=p.PlaceRecurringRequest,
        status=201,
        response=[p.OrderOut],
        roles=auth.ENTERPRISE_AND_STAFF,
    )
    def place_recurring(self, request):
        """A series of orders, e.g. a weekly class for eight weeks (an iCalendar RRULE)."""
        data, rules, by = self._placing(request)
        title = self._program_title(data, data["palace_id"])
        return call(self.orders.place_recurring, data, program_title=title, rules=rules, placed_by=by)

    @route(
        "GET /api/orders",
        tag=N_("订单"),
        summary=N_("订单列表（按企业、文化宫、状态，分页）"),
        response=p.OrderPage,
        query=("enterprise_id", "palace_id", "status", "page", "per_page"),
        roles=auth.ENTERPRISE_AND_STAFF,
    )
    def list_orders(self, request):
        who = self._who(request)
        q = query(request)
        if who["role"] == "enterprise":
            if q.get("enterprise_id", who["enterprise_id"]) != who["enterprise_id"]:
                raise Forbidden("您只能查看本单位的订单。")
            q["enterprise_id"] = who["enterprise_id"]
        elif who["role"] == "dispatcher":
            q["palace_id"] = auth.palace_scope(who, q.get("palace_id"))
        return call(self.orders.list_orders, q)

    @route(
        "GET /api/orders/<order_id>",
        tag=N_("订单"),
        summary=N_("一个订单及其状态记录"),
        response=p.OrderOut,
        roles=auth.ENTERPRISE_AND_STAFF,
    )
    def get_order(self, request, order_id):
        return self._order(request, order_id)[1]

    @route(
        "PATCH /api/orders/<order_id>",
        tag=N_("订单"),
        summary=N_("排期前修改订单"),
        body=p.AmendOrder,
        response=p.OrderOut,
        roles=auth.ENTERPRISE,
    )
    def amend_order(self, request, order_id):
        _, order = self._order(request, order_id)
        data = body(request)
        title = self._program_title(data, order["palace_id"])
        rules = self._time_rules(order["palace_id"]) if "windows" in data else None
        return call(self.orders.amend_order, order_id, data, program_title=title, rules=rules)

    @route(
        "POST /api/orders/<order_id>/cancel",
        tag=N_("订单"),
        summary=N_("服务前取消订单"),
        body=p.CancelOrder,
        response=p.OrderOut,
        roles=auth.ENTERPRISE,
    )
    def cancel_order(self, request, order_id):
        self._order(request, order_id)
        return call(self.orders.cancel_order, order_id, body(request, required=False))

    @route(
        "POST /api/orders/<order_id>/accept",
        tag=N_("调度"),
        summary=N_("受理订单"),
        body=p.AcceptOrder,
        response=p.OrderOut,
        roles=auth.STAFF,
    )
    def accept_order(self, request, order_id):
        _, order = self._order(request, order_id)
        data = body(request, required=False)
        return call(
            self.orders.accept_order, order_id, data, program_title=self._program_title(data, order["palace_id"])
        )

    @route(
        "POST /api/orders/<order_id>/reject",
        tag=N_("调度"),
        summary=N_("拒绝订单（须说明理由）"),
        body=p.RejectOrder,
        response=p.OrderOut,
        roles=auth.STAFF,
    )
    def reject_order(self, request, order_id):
        self._order(request, order_id)
        return call(self.orders.reject_order, order_id, body(request))

    @route(
        "POST /api/orders/<order_id>/confirm",
        tag=N_("订单"),
        summary=N_("企业确认已服务"),
        response=p.OrderOut,
        roles=auth.ENTERPRISE,
    )
    def confirm_delivery(self, request, order_id):
        self._order(request, order_id)
        return call(self.orders.confirm_delivery, order_id)

    @route(
        "GET /api/orders/<order_id>/plan",
        tag=N_("调度"),
        summary=N_("派单安排：人员、邀约、签到"),
        response=p.PlanOut,
        roles=auth.ALL,
    )
    def plan(self, request, order_id):
        who, order = self._order(request, order_id)
        plan = auth.trim_plan(who, call(self.dispatch.get_plan, order_id))
        if who["role"] in auth.STAFF and plan.get("phones"):  # the crew's phone numbers
            self._accessed(
                request,
                who,
                "personal_data_viewed",
                "crew",
                {"type": "order", "id": order_id},
                [order.get("palace_id")],
            )
        return plan

    def _by_staff(self, request, order_id: str, act):
        """A dispatcher's (an admin's) act on an order of their palace, recorded with who did it."""
        who, _ = self._order(request, order_id)
        return call(act, order_id, body(request), by=who["username"])

    @route(
        "POST /api/orders/<order_id>/complete",
        tag=N_("调度"),
        summary=N_("服务完成，填报服务人次"),
        body=p.CompleteDelivery,
        response=p.PlanOut,
        roles=auth.STAFF,
    )
    def complete(self, request, order_id):
        self._order(request, order_id)
        return call(self.dispatch.complete_delivery, order_id, body(request))

    @route(
        "POST /api/orders/<order_id>/plan/assign",
        tag=N_("调度"),
        summary=N_("调度员指定人选（仍守硬性规则）"),
        body=p.Assign,
        status=201,
        response=p.OfferOut,
        roles=auth.STAFF,
    )
    def assign(self, request, order_id):
        """The dispatcher's own choice for a role (hard rules still hold)."""
        return self._by_staff(request, order_id, self.dispatch.assign)

    @route(
        "POST /api/orders/<order_id>/no-show",
        tag=N_("调度"),
        summary=N_("登记缺席并自动找人顶替"),
        body=p.ReportNoShow,
        status=201,
        response=p.NoShowOut,
        roles=auth.STAFF,
    )
    def no_show(self, request, order_id):
        return self._by_staff(request, order_id, self.dispatch.report_no_show)

    @route(
        "POST /api/orders/<order_id>/hours",
        tag=N_("调度"),
        summary=N_("手工补记服务时长（单独标记）"),
        body=p.GrantHours,
        status=201,
        response=p.GrantOut,
        roles=auth.STAFF,
    )
    def grant_hours(self, request, order_id):
        return self._by_staff(request, order_id, self.dispatch.grant_hours)
