"""The palaces with their settings and dispatch board, and the records they keep: the programs of
the catalogue, enterprise unions, troupes, volunteers and no-shows."""

from __future__ import annotations

import datetime as dt

from common.errors import Forbidden, Invalid, NotFound
from services.gateway import auth
from services.gateway.http import body, call, http, query


class Catalogue:
    """Catalogue and people entrypoints mixed into the gateway service."""

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
