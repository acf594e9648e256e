"""Signing in and out, and the registration of enterprise unions and volunteers that a dispatcher
of their palace approves or rejects."""

from __future__ import annotations

from common.config import setting
from common.errors import N_, Conflict, Invalid
from contracts import payloads as p
from services.gateway import auth
from services.gateway.http import body, call, query
from services.gateway.routes import route


class Accounts:
    """Sign-in and registration entrypoints mixed into the gateway service."""

    @route(
        "POST /api/login",
        tag=N_("账号"),
        summary=N_("登录：用户名和密码换取有时效的令牌"),
        body=p.Login,
        response=p.Session,
        roles=auth.PUBLIC,
    )
    def login(self, request):
        """Username and password → a bearer token that expires. Failed tries slow down the next
        ones and lock the account, or the address, for a while (429 with ``Retry-After``)."""
        client = auth.client_address(request, setting(self.config, "TRUSTED_PROXY"))
        return call(self.accounts.login, body(request), client=client)

    @route("POST /api/logout", tag=N_("账号"), summary=N_("退出登录"), response=p.Health, roles=auth.ALL)
    def logout(self, request):
        token = auth.bearer(request)
        self.sessions.ended(token)
        return call(self.accounts.logout, token)

    @route(
        "POST /api/logout-all",
        tag=N_("账号"),
        summary=N_("在所有设备上退出登录"),
        response=p.SessionsEnded,
        roles=auth.ALL,
    )
    def logout_all(self, request):
        """Every session of the caller ends, on every gateway process (each is told)."""
        who = self._who(request)
        self.sessions.ended(auth.bearer(request))
        return call(self.accounts.end_sessions, who["username"])

    @route(
        "POST /api/password",
        tag=N_("账号"),
        summary=N_("修改密码（须提供原密码）；之后所有登录都需重新登录"),
        body=p.ChangePassword,
        response=p.SessionsEnded,
        roles=auth.ALL,
    )
    def change_password(self, request):
        who = self._who(request)
        data = body(request)
        self.sessions.ended(auth.bearer(request))
        return call(self.accounts.change_password, who["username"], data)

    @route(
        "POST /api/accounts/<username>/password-reset",
        tag=N_("账号"),
        summary=N_("为本文化宫的账号生成一次性重置密码链接（只显示这一次）"),
        status=201,
        response=p.ResetLink,
        roles=auth.STAFF,
    )
    def request_password_reset(self, request, username):
        """A one-time link that expires (``RESET_HOURS``), shown once to whoever made it, to hand
        over; never a password."""
        who = self._who(request)
        made = call(self.accounts.request_password_reset, username, who)
        return {**made, "link": request.host_url.rstrip("/") + made["link"]}

    @route(
        "POST /api/password-reset",
        tag=N_("账号"),
        summary=N_("用重置链接设置新密码（链接只能用一次）"),
        body=p.ResetPassword,
        response=p.SessionsEnded,
        roles=auth.PUBLIC,
    )
    def reset_password(self, request):
        self.limiter.check_client(request)
        return call(self.accounts.reset_password, body(request))

    @route(
        "GET /api/accounts",
        tag=N_("账号"),
        summary=N_("查找本文化宫的账号（用户名、姓名或编号的一部分），以便重置密码"),
        response=[p.AccountOut],
        query=("palace_id", "q"),
        roles=auth.STAFF,
    )
    def list_accounts(self, request):
        who = self._who(request)
        q = query(request)
        return call(self.accounts.list_accounts, auth.palace_scope(who, q.get("palace_id")), (q.get("q") or "")[:100])

    # ------------------------------------------------------------ volunteers' invitations

    @route(
        "POST /api/claim",
        tag=N_("账号"),
        summary=N_("志愿者用邀请码认领账号：核对手机号后四位，设置用户名和密码，随即登录（邀请码只能用一次）"),
        body=p.Claim,
        status=201,
        response=p.Session,
        roles=auth.PUBLIC,
    )
    def claim(self, request):
        self.limiter.check_client(request)
        return call(self.accounts.claim_invitation, body(request))

    @route(
        "POST /api/volunteers/<volunteer_id>/invitation",
        tag=N_("账号"),
        summary=N_("重新发送认领账号的邀请：新的邀请码（旧的作废），短信发给志愿者，也只向调度员显示这一次"),
        status=201,
        response=p.Invited,
        roles=auth.STAFF,
    )
    def invite_volunteer(self, request, volunteer_id):
        """A new code for a volunteer without an account (the one sent before stops working), sent
        to their phone and shown once to the staff member, to hand over where no SMS reaches."""
        who = self._who(request)
        volunteer = call(self.dispatch.get_volunteer, volunteer_id)
        auth.check_volunteer(who, volunteer)
        made = self._invite(who, volunteer["palace_id"], [volunteer], resend=True)
        if made.get("link"):
            made["link"] = request.host_url.rstrip("/") + made["link"]
        return made

    @route(
        "GET /api/palaces/<palace_id>/invitations",
        tag=N_("账号"),
        summary=N_("本文化宫志愿者的账号认领情况：已认领、已邀请（有效期）、邀请已过期"),
        response=[p.InvitationState],
        roles=auth.STAFF,
    )
    def invitations(self, request, palace_id):
        self._staff_of(request, palace_id)
        return call(self.accounts.invitation_states, palace_id)

    @route("GET /api/me", tag=N_("账号"), summary=N_("当前登录的账号和角色"), response=p.Me, roles=auth.ALL)
    def me(self, request):
        who = self._who(request)
        status = call(self.accounts.notice_status, who["username"])
        # the screens ask again when the notice is newer than what the person agreed to
        return {
            **who,
            "notice_version": status["version"],
            "notice_pending": status["accepted"] != status["version"],
            "notice_accepted": status["accepted"],
        }

    @route(
        "GET /api/privacy",
        tag=N_("账号"),
        summary=N_("隐私政策（当前版本）"),
        response=p.PrivacyNotice,
        roles=auth.PUBLIC,
    )
    def privacy_notice(self, request):
        return call(self.accounts.privacy_notice)

    @route(
        "PUT /api/privacy",
        tag=N_("账号"),
        summary=N_("发布新版隐私政策（每个人下次登录时再次确认）"),
        body=p.PublishNotice,
        response=p.PrivacyNotice,
        roles=auth.ADMIN,
    )
    def publish_notice(self, request):
        who = self._who(request)
        return call(self.accounts.publish_notice, body(request), who["username"])

    @route(
        "POST /api/privacy/consent",
        tag=N_("账号"),
        summary=N_("同意当前版本的隐私政策"),
        body=p.GiveConsent,
        response=p.NoticeStatus,
        roles=auth.ALL,
    )
    def give_consent(self, request):
        who = self._who(request)
        return call(self.accounts.give_consent, who["username"], body(request))

    # ------------------------------------------------------------ registration

    @route(
        "POST /api/register",
        tag=N_("账号"),
        summary=N_("企业工会或志愿者自行注册，待调度员审核"),
        body=p.Registration,
        status=201,
        response=p.RegistrationOut,
        roles=auth.PUBLIC,
    )
    def register(self, request):
        """An enterprise union or a volunteer registers; a dispatcher of the palace approves."""
        self.limiter.check_client(request)
        data = body(request)
        if isinstance(data.get("palace_id"), str):
            palaces = {p["palace_id"] for p in call(self.dispatch.list_palaces)}
            if data["palace_id"] not in palaces:
                raise Invalid("提交的内容有误，请检查标出的字段。", fields={"palace_id": [N_("没有这个文化宫。")]})
        return call(self.accounts.register, data)

    @route(
        "GET /api/registrations",
        tag=N_("账号"),
        summary=N_("注册申请列表（默认待审核）"),
        response=[p.RegistrationOut],
        query=("palace_id", "status"),
        roles=auth.STAFF,
    )
    def registrations(self, request):
        who = self._who(request)
        q = query(request)
        palace = auth.palace_scope(who, q.get("palace_id"))
        found = call(self.accounts.list_registrations, palace, q.get("status") or "pending")
        self._accessed(
            request,
            who,
            "personal_data_viewed",
            "registrations",
            {"type": "registrations", "id": palace},
            [palace],
            len(found),
        )
        return found

    def _registration(self, request, username: str) -> tuple[dict, dict]:
        who = self._who(request)
        registration = call(self.accounts.get_registration, username)
        auth.palace_scope(who, registration["palace_id"])
        return who, registration

    @route(
        "POST /api/registrations/<username>/approve",
        tag=N_("账号"),
        summary=N_("通过注册：建立企业或志愿者档案并开通账号"),
        response=p.RegistrationOut,
        roles=auth.STAFF,
    )
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

    @route(
        "POST /api/registrations/<username>/reject",
        tag=N_("账号"),
        summary=N_("拒绝注册（须说明理由）"),
        body=p.RejectRegistration,
        response=p.RegistrationOut,
        roles=auth.STAFF,
    )
    def reject_registration(self, request, username):
        who, _ = self._registration(request, username)
        return call(self.accounts.reject_registration, username, body(request), who["username"])
