"""The palaces with their settings and dispatch board, and the records they keep: the programs of
the catalogue, enterprise unions, troupes, volunteers and no-shows."""

from __future__ import annotations

import datetime as dt
import logging

from common.errors import N_, Forbidden, Invalid, NotFound
from contracts import payloads as p
from services.gateway import auth
from services.gateway.http import body, call, query
from services.gateway.routes import route

log = logging.getLogger(__name__)


class Catalogue:
    """Catalogue and people entrypoints mixed into the gateway service."""

    def _staff_of(self, request, palace_id: str) -> None:
        """The caller is a dispatcher of this palace, or an admin."""
        auth.palace_scope(self._who(request), palace_id)

    @route("GET /api/palaces", tag=N_("目录"), summary=N_("文化宫列表"), response=[p.Palace], roles=auth.ALL)
    def palaces(self, request):
        self._who(request)
        return call(self.dispatch.list_palaces)

    @route(
        "PUT /api/palaces/<palace_id>",
        tag=N_("调度"),
        summary=N_("文化宫设置：答复期限、排班规则、权重、区域坐标"),
        body=p.Palace,
        response=p.Palace,
        roles=auth.STAFF,
    )
    def upsert_palace(self, request, palace_id):
        """A palace's settings: offer deadline, planning rules, the planner's weights, districts."""
        self._staff_of(request, palace_id)
        return call(self.dispatch.upsert_palace, {**body(request), "palace_id": palace_id})

    @route(
        "POST /api/palaces/<palace_id>/replan",
        tag=N_("调度"),
        summary=N_("批量重新排班（一个时段内所有未排定订单）"),
        body=p.Replan,
        response=p.ReplanOut,
        roles=auth.STAFF,
    )
    def replan(self, request, palace_id):
        """Re-plan every open order of a period together."""
        self._staff_of(request, palace_id)
        return call(self.dispatch.replan, palace_id, body(request), timeout=120)

    @route(
        "GET /api/palaces/<palace_id>/board",
        tag=N_("调度"),
        summary=N_("调度看板：各状态订单数、待答复和即将到期的邀约"),
        response=p.Board,
        roles=auth.STAFF,
    )
    def board(self, request, palace_id):
        """The dispatcher's board: orders by status, offers waiting, and those due in six hours."""
        self._staff_of(request, palace_id)
        pending = call(self.dispatch.list_pending_offers, palace_id)
        soon = dt.datetime.now(dt.UTC) + dt.timedelta(hours=6)
        return {
            "palace_id": palace_id,
            "orders": call(self.orders.count_by_status, palace_id),
            "offers_pending": len(pending),
            "offers_due_soon": [o for o in pending if dt.datetime.fromisoformat(o["deadline"]) <= soon][:50],
        }

    @route(
        "GET /api/palaces/<palace_id>/deliveries",
        tag=N_("调度"),
        summary=N_("服务日历：一个时段内已排定和已完成的服务"),
        response=[p.DeliveryOut],
        query=("start", "end"),
        roles=auth.STAFF,
    )
    def deliveries(self, request, palace_id):
        """The palace's calendar of deliveries in a period (?start=&end=)."""
        self._staff_of(request, palace_id)
        # a "+08:00" typed into an address arrives as " 08:00"
        period = {k: v.replace(" ", "+") for k, v in query(request).items()}
        return call(self.dispatch.deliveries, palace_id, period)

    @route(
        "GET /api/no-shows",
        tag=N_("调度"),
        summary=N_("缺席记录"),
        response=[p.NoShowOut],
        query=("palace_id", "volunteer_id"),
        roles=auth.STAFF,
    )
    def no_shows(self, request):
        who = self._who(request)
        q = query(request)
        palace = auth.palace_scope(who, q.get("palace_id"))
        if palace is None and not q.get("volunteer_id"):
            raise Invalid("请指定文化宫或志愿者。", fields={"palace_id": ["请指定文化宫或志愿者。"]})
        return call(self.dispatch.list_no_shows, palace, q.get("volunteer_id"))

    @route(
        "POST /api/no-shows/<no_show_id>/clear",
        tag=N_("调度"),
        summary=N_("撤销一条缺席记录（须说明理由）"),
        body=p.ClearNoShow,
        response=p.NoShowOut,
        roles=auth.STAFF,
    )
    def clear_no_show(self, request, no_show_id):
        who = self._who(request)
        record = call(self.dispatch.get_no_show, no_show_id)
        auth.palace_scope(who, record["palace_id"])
        return call(self.dispatch.clear_no_show, no_show_id, body(request))

    @route(
        "GET /api/programs",
        tag=N_("目录"),
        summary=N_("节目目录（标配服务项目）"),
        response=[p.Program],
        query=("palace_id",),
        roles=auth.ALL,
    )
    def programs(self, request):
        self._who(request)
        return call(self.dispatch.list_programs, query(request).get("palace_id"))

    @route("GET /api/programs/<program_id>", tag=N_("目录"), summary=N_("一个节目"), response=p.Program, roles=auth.ALL)
    def program(self, request, program_id):
        self._who(request)
        return call(self.dispatch.get_program, program_id)

    @route(
        "GET /api/enterprises",
        tag=N_("目录"),
        summary=N_("企业工会列表"),
        response=[p.Enterprise],
        query=("palace_id",),
        roles=auth.STAFF,
    )
    def enterprises(self, request):
        who = self._who(request)
        palace = auth.palace_scope(who, query(request).get("palace_id"))
        found = call(self.orders.list_enterprises, palace)
        self._accessed(
            request,
            who,
            "personal_data_viewed",
            "enterprises",
            {"type": "enterprises", "id": palace},
            [palace],
            len(found),
        )
        return found

    @route(
        "GET /api/enterprises/<enterprise_id>",
        tag=N_("目录"),
        summary=N_("一个企业工会（所在区域等）"),
        response=p.Enterprise,
        roles=auth.ENTERPRISE_AND_STAFF,
    )
    def enterprise(self, request, enterprise_id):
        """An enterprise union's record (its district is the order form's default): the union
        itself, its palace's dispatchers, admins."""
        who = self._who(request)
        if who["role"] == "enterprise" and who.get("enterprise_id") != enterprise_id:
            raise Forbidden("您只能查看本单位的信息。")
        record = call(self.orders.get_enterprise, enterprise_id)
        if who["role"] == "dispatcher":
            auth.palace_scope(who, record["palace_id"])
        return record

    @route(
        "GET /api/troupes",
        tag=N_("调度"),
        summary=N_("艺术团列表"),
        response=[p.Troupe],
        query=("palace_id",),
        roles=auth.STAFF,
    )
    def troupes(self, request):
        who = self._who(request)
        return call(self.dispatch.list_troupes, auth.palace_scope(who, query(request).get("palace_id")))

    @route(
        "GET /api/volunteers",
        tag=N_("调度"),
        summary=N_("志愿者列表"),
        response=[p.Volunteer],
        query=("palace_id",),
        roles=auth.STAFF,
    )
    def volunteers(self, request):
        who = self._who(request)
        palace = auth.palace_scope(who, query(request).get("palace_id"))
        found = call(self.dispatch.list_volunteers, palace)
        self._accessed(
            request,
            who,
            "personal_data_viewed",
            "volunteers",
            {"type": "volunteers", "id": palace},
            [palace],
            len(found),
        )
        return found

    def _own_palace(self, request, data: dict) -> dict:
        """A dispatcher manages their own palace's records; the palace comes from the account."""
        who = self._who(request)
        if who["role"] == "dispatcher":
            data["palace_id"] = auth.palace_scope(
                who, data.get("palace_id") if isinstance(data.get("palace_id"), str) else None
            )
        return who

    def _managed(self, request, kind: str, record_id: str) -> dict:
        return self._managed_record(request, kind, record_id)[0]

    def _managed_record(self, request, kind: str, record_id: str) -> tuple[dict, dict | None, dict]:
        """What a dispatcher of the record's palace (or an admin) writes: the body, the record as it
        was (None when new) and the caller."""
        data = body(request)
        data[f"{kind}_id"] = record_id
        who = self._own_palace(request, data)
        try:
            existing = call(getattr(self.dispatch, f"get_{kind}"), record_id)
        except NotFound:
            existing = None
        if existing is not None and who["role"] == "dispatcher":
            auth.palace_scope(who, existing["palace_id"])  # another palace's record is not yours to change
        return data, existing, who

    @route(
        "PUT /api/programs/<program_id>",
        tag=N_("调度"),
        summary=N_("新增或修改节目（人员需求、场地要求）"),
        body=p.Program,
        response=p.Program,
        roles=auth.STAFF,
    )
    def upsert_program(self, request, program_id):
        """Add or change a catalog program (what it needs on site and in people)."""
        return call(self.dispatch.upsert_program, self._managed(request, "program", program_id))

    @route(
        "PUT /api/troupes/<troupe_id>",
        tag=N_("调度"),
        summary=N_("新增或修改艺术团（队员、保留节目）"),
        body=p.Troupe,
        response=p.Troupe,
        roles=auth.STAFF,
    )
    def upsert_troupe(self, request, troupe_id):
        """Add or change a troupe: members and the programs it plays."""
        return call(self.dispatch.upsert_troupe, self._managed(request, "troupe", troupe_id))

    @route(
        "PUT /api/volunteers/<volunteer_id>",
        tag=N_("调度"),
        summary=N_("新增或修改志愿者（技能、区域、个人上限和意愿）"),
        body=p.Volunteer,
        response=p.Volunteer,
        roles=auth.STAFF,
    )
    def upsert_volunteer(self, request, volunteer_id):
        """Add or change a volunteer: skills, district, limits and wishes. A new one is invited to
        claim an account (a code on their phone), unless an account is linked to them already."""
        data, existing, who = self._managed_record(request, "volunteer", volunteer_id)
        volunteer = call(self.dispatch.upsert_volunteer, data)
        if existing is None:
            try:
                self._invite(who, volunteer["palace_id"], [volunteer])
            except Exception as err:  # noqa: BLE001 - the volunteer stands; invited again from the list
                log.warning("volunteer %s not invited: %r", volunteer_id, err)
        return volunteer

    def _invite(self, who: dict, palace_id: str, volunteers: list[dict], resend: bool = False) -> dict:
        """Invite volunteers of a palace to claim their accounts (accounts makes the codes,
        notifications sends them)."""
        invitees = [{k: v.get(k) for k in ("volunteer_id", "name", "phone")} for v in volunteers if v.get("phone")]
        name = self._palace(palace_id).get("name")
        payload = {"palace_id": palace_id, "palace_name": name, "volunteers": invitees, "resend": resend}
        return call(self.accounts.invite, payload, who["username"], timeout=120)
