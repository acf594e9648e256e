"""The alliance of palaces (文化宫联盟): troupes shared across it and lent for an order (队伍联用).

An admin forms an alliance; the owning palace's dispatcher shares a troupe and answers loan
requests; a member palace's dispatcher asks to borrow a shared troupe for one of its orders.
Dispatchers outside the alliance see nothing of it."""

from __future__ import annotations

from common.errors import Forbidden, Invalid
from services.gateway import auth
from services.gateway.http import body, call, http, query


class Alliances:
    """Alliance entrypoints mixed into the gateway service."""

    @http("GET", "/api/alliances")
    def alliances(self, request):
        """All alliances for an admin; a dispatcher's own palace's alliance (or none)."""
        who = self._who(request, auth.STAFF)
        if who["role"] == "admin":
            return call(self.dispatch.list_alliances, query(request, ("palace_id",)).get("palace_id"))
        query(request, ())
        return call(self.dispatch.list_alliances, who["palace_id"])

    @http("POST", "/api/alliances")
    def create_alliance(self, request):
        """An admin forms an alliance of palaces (each in one alliance at most)."""
        self._who(request, ("admin",))
        return 201, call(self.dispatch.create_alliance, body(request))

    @http("GET", "/api/alliances/troupes")
    def alliance_troupes(self, request):
        """The troupes shared in the caller's alliance: names, repertoire, how many members have
        each skill; never a member's name or phone number."""
        who = self._who(request, auth.STAFF)
        if who["role"] == "admin":
            q = query(request, ("alliance_id", "palace_id"))
            if not q.get("alliance_id") and not q.get("palace_id"):
                raise Invalid("请指定联盟或文化宫。", fields={"alliance_id": ["请指定联盟或文化宫。"]})
            return call(self.dispatch.shared_troupes, q.get("palace_id"), q.get("alliance_id"))
        query(request, ())
        return call(self.dispatch.shared_troupes, who["palace_id"])

    @http("PUT", "/api/troupes/<troupe_id>/sharing")
    def share_troupe(self, request, troupe_id):
        """The owning palace shares its troupe with the alliance ({"shared": true}) or stops."""
        who = self._who(request, auth.STAFF)
        troupe = call(self.dispatch.get_troupe, troupe_id)
        if who["role"] == "dispatcher" and troupe["palace_id"] != who["palace_id"]:
            raise Forbidden("只有队伍所属文化宫的调度员才能设置共享。", "NOT_OWNER")
        return call(self.dispatch.share_troupe, troupe_id, body(request))

    @http("GET", "/api/loans")
    def loans(self, request):
        """A palace's loans: asked of its troupes (incoming) and asked by it (outgoing)."""
        who = self._who(request, auth.STAFF)
        palace = auth.palace_scope(who, query(request, ("palace_id",)).get("palace_id"))
        if palace is None:
            raise Invalid("请指定文化宫。", fields={"palace_id": ["请指定文化宫。"]})
        return call(self.dispatch.list_loans, palace)

    @http("POST", "/api/loans")
    def request_loan(self, request):
        """A member palace's dispatcher asks to borrow a shared troupe for an order of their palace."""
        who = self._who(request, ("dispatcher",))
        return 201, call(self.dispatch.request_loan, who["palace_id"], body(request), by=who["username"])

    def _owner(self, request, loan_id: str) -> tuple[dict, str | None]:
        who = self._who(request, auth.STAFF)
        loan = call(self.dispatch.get_loan, loan_id)
        if who["role"] == "dispatcher" and loan["owner_palace_id"] != who["palace_id"]:
            raise Forbidden("只有队伍所属文化宫的调度员才能答复借用申请。", "NOT_OWNER")
        return who, None if who["role"] == "admin" else who["palace_id"]

    @http("POST", "/api/loans/<loan_id>/approve")
    def approve_loan(self, request, loan_id):
        """The owning palace lends the troupe: its members may now be planned for the order."""
        who, owner = self._owner(request, loan_id)
        return call(self.dispatch.approve_loan, loan_id, owner, by=who["username"])

    @http("POST", "/api/loans/<loan_id>/refuse")
    def refuse_loan(self, request, loan_id):
        """The owning palace refuses, with a reason."""
        who, owner = self._owner(request, loan_id)
        return call(self.dispatch.refuse_loan, loan_id, body(request), owner, by=who["username"])
