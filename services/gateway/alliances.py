"""The alliance of palaces (文化宫联盟): troupes shared across it and lent for an order (队伍联用).

An admin forms an alliance; the owning palace's dispatcher shares a troupe and answers loan
requests; a member palace's dispatcher asks to borrow a shared troupe for one of its orders.
Dispatchers outside the alliance see nothing of it."""

from __future__ import annotations

from common.errors import N_, Forbidden, Invalid
from contracts import payloads as p
from services.gateway import auth
from services.gateway.http import body, call, query
from services.gateway.routes import route


class Alliances:
    """Alliance entrypoints mixed into the gateway service."""

    @route(
        "GET /api/alliances",
        tag=N_("联盟"),
        summary=N_("文化宫联盟（调度员看到本文化宫所在的联盟）"),
        response=[p.AllianceOut],
        query=("palace_id",),
        roles=auth.STAFF,
    )
    def alliances(self, request):
        """All alliances for an admin; a dispatcher's own palace's alliance (or none)."""
        who = self._who(request)
        if who["role"] == "admin":
            return call(self.dispatch.list_alliances, query(request, ("palace_id",)).get("palace_id"))
        query(request, ())
        return call(self.dispatch.list_alliances, who["palace_id"])

    @route(
        "POST /api/alliances",
        tag=N_("联盟"),
        summary=N_("管理员建立文化宫联盟"),
        body=p.NewAlliance,
        status=201,
        response=p.AllianceOut,
        roles=auth.ADMIN,
    )
    def create_alliance(self, request):
        """An admin forms an alliance of palaces (each in one alliance at most)."""
        self._who(request)
        return 201, call(self.dispatch.create_alliance, body(request))

    @route(
        "GET /api/alliances/troupes",
        tag=N_("联盟"),
        summary=N_("联盟共享的队伍：名称、保留节目、各技能人数（不含队员联系方式）"),
        response=[p.SharedTroupeOut],
        query=("alliance_id", "palace_id"),
        roles=auth.STAFF,
    )
    def alliance_troupes(self, request):
        """The troupes shared in the caller's alliance: names, repertoire, how many members have
        each skill; never a member's name or phone number."""
        who = self._who(request)
        if who["role"] == "admin":
            q = query(request, ("alliance_id", "palace_id"))
            if not q.get("alliance_id") and not q.get("palace_id"):
                raise Invalid("请指定联盟或文化宫。", fields={"alliance_id": ["请指定联盟或文化宫。"]})
            return call(self.dispatch.shared_troupes, q.get("palace_id"), q.get("alliance_id"))
        query(request, ())
        return call(self.dispatch.shared_troupes, who["palace_id"])

    @route(
        "PUT /api/troupes/<troupe_id>/sharing",
        tag=N_("联盟"),
        summary=N_("队伍所属文化宫设置是否向联盟共享"),
        body=p.ShareTroupe,
        response=p.Troupe,
        roles=auth.STAFF,
    )
    def share_troupe(self, request, troupe_id):
        """The owning palace shares its troupe with the alliance ({"shared": true}) or stops."""
        who = self._who(request)
        troupe = call(self.dispatch.get_troupe, troupe_id)
        if who["role"] == "dispatcher" and troupe["palace_id"] != who["palace_id"]:
            raise Forbidden("只有队伍所属文化宫的调度员才能设置共享。", "NOT_OWNER")
        return call(self.dispatch.share_troupe, troupe_id, body(request))

    @route(
        "GET /api/loans",
        tag=N_("联盟"),
        summary=N_("本文化宫借出和借入的队伍申请"),
        response=p.LoansOut,
        query=("palace_id",),
        roles=auth.STAFF,
    )
    def loans(self, request):
        """A palace's loans: asked of its troupes (incoming) and asked by it (outgoing)."""
        who = self._who(request)
        palace = auth.palace_scope(who, query(request, ("palace_id",)).get("palace_id"))
        if palace is None:
            raise Invalid("请指定文化宫。", fields={"palace_id": ["请指定文化宫。"]})
        return call(self.dispatch.list_loans, palace)

    @route(
        "POST /api/loans",
        tag=N_("联盟"),
        summary=N_("为一个订单申请借用联盟共享的队伍"),
        body=p.RequestLoan,
        status=201,
        response=p.LoanOut,
        roles=auth.DISPATCHER,
    )
    def request_loan(self, request):
        """A member palace's dispatcher asks to borrow a shared troupe for an order of their palace."""
        who = self._who(request)
        return 201, call(self.dispatch.request_loan, who["palace_id"], body(request), by=who["username"])

    def _owner(self, request, loan_id: str) -> tuple[dict, str | None]:
        who = self._who(request)
        loan = call(self.dispatch.get_loan, loan_id)
        if who["role"] == "dispatcher" and loan["owner_palace_id"] != who["palace_id"]:
            raise Forbidden("只有队伍所属文化宫的调度员才能答复借用申请。", "NOT_OWNER")
        return who, None if who["role"] == "admin" else who["palace_id"]

    @route(
        "POST /api/loans/<loan_id>/approve",
        tag=N_("联盟"),
        summary=N_("队伍所属文化宫同意借用，订单随即可以安排这支队伍的队员"),
        response=p.LoanOut,
        roles=auth.STAFF,
    )
    def approve_loan(self, request, loan_id):
        """The owning palace lends the troupe: its members may now be planned for the order."""
        who, owner = self._owner(request, loan_id)
        return call(self.dispatch.approve_loan, loan_id, owner, by=who["username"])

    @route(
        "POST /api/loans/<loan_id>/refuse",
        tag=N_("联盟"),
        summary=N_("队伍所属文化宫拒绝借用（须说明理由）"),
        body=p.RefuseLoan,
        response=p.LoanOut,
        roles=auth.STAFF,
    )
    def refuse_loan(self, request, loan_id):
        """The owning palace refuses, with a reason."""
        who, owner = self._owner(request, loan_id)
        return call(self.dispatch.refuse_loan, loan_id, body(request), owner, by=who["username"])
