"""Closing an account: the person asks, or staff record that they asked; after the grace period
(ERASURE_GRACE_DAYS) every service removes or anonymises what it holds about them. Until then
the request can be cancelled, by the person or by staff."""

from __future__ import annotations

from common.config import setting
from common.errors import N_, Invalid
from contracts import payloads as p
from services.gateway import auth
from services.gateway.http import call, query
from services.gateway.routes import route

STATUSES = ("pending", "cancelled", "done")


class Erasure:
    """The erasure entrypoints mixed into the gateway service."""

    def _grace_days(self) -> float:
        return setting(self.config, "ERASURE_GRACE_DAYS")

    @route(
        "GET /api/me/erasure",
        tag=N_("账号"),
        summary=N_("我的注销申请（如有）和宽限期天数"),
        response=p.MyErasure,
        roles=auth.ALL,
    )
    def my_erasure(self, request):
        who = self._who(request)
        return {"erasure": call(self.accounts.erasure_of, who["username"]), "grace_days": self._grace_days()}

    @route(
        "POST /api/me/erasure",
        tag=N_("账号"),
        summary=N_("申请注销我的账号：宽限期过后删除或匿名化我的全部个人信息，期间可撤销"),
        status=201,
        response=p.ErasureOut,
        roles=auth.ALL,
    )
    def request_my_erasure(self, request):
        who = self._who(request)
        return call(self.accounts.request_erasure, who["username"], who)

    @route(
        "POST /api/me/erasure/cancel",
        tag=N_("账号"),
        summary=N_("撤销我的注销申请"),
        response=p.ErasureOut,
        roles=auth.ALL,
    )
    def cancel_my_erasure(self, request):
        who = self._who(request)
        return call(self.accounts.cancel_erasure, who["username"], who)

    @route(
        "POST /api/accounts/<username>/erasure",
        tag=N_("账号"),
        summary=N_("登记本人提出的注销申请（本文化宫的账号）：宽限期过后删除或匿名化其个人信息"),
        status=201,
        response=p.ErasureOut,
        roles=auth.STAFF,
    )
    def request_erasure(self, request, username):
        who = self._who(request)
        return call(self.accounts.request_erasure, username, who)

    @route(
        "POST /api/accounts/<username>/erasure/cancel",
        tag=N_("账号"),
        summary=N_("撤销一份待执行的注销申请"),
        response=p.ErasureOut,
        roles=auth.STAFF,
    )
    def cancel_erasure(self, request, username):
        who = self._who(request)
        return call(self.accounts.cancel_erasure, username, who)

    @route(
        "GET /api/erasures",
        tag=N_("账号"),
        summary=N_("本文化宫的注销申请：待执行（到期时间）、已撤销、已执行"),
        response=[p.ErasureOut],
        query=("palace_id", "status"),
        roles=auth.STAFF,
    )
    def list_erasures(self, request):
        who = self._who(request)
        q = query(request)
        status = q.get("status") or "pending"
        if status not in STATUSES:
            raise Invalid("查询参数有误。", fields={"status": [N_("状态应为 pending、cancelled 或 done。")]})
        return call(self.accounts.list_erasures, auth.palace_scope(who, q.get("palace_id")), status)
