"""People who sign in, their roles, and what each role may see. No I/O."""

from __future__ import annotations

import datetime as dt
import os
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from common.clock import month_day_time
from common.errors import N_, Conflict, Forbidden, Invalid, Message, NotFound, Throttled, Unauthorized
from common.personal import needles

SCOPE = {"enterprise": "enterprise_id", "dispatcher": "palace_id", "volunteer": "volunteer_id"}
# whom notifications reach through each kind of id: volunteers, enterprise unions, a palace's dispatchers
REACHED_ROLE = {"volunteer": "volunteer", "enterprise": "enterprise", "palace": "dispatcher"}
_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    """A session token: 32 random bytes (256 bits). Only its SHA-256 is stored."""
    return secrets.token_urlsafe(32)


def new_user(data: dict, at: dt.datetime) -> dict:
    role = data["role"]
    scope = SCOPE.get(role)
    if scope and not data.get(scope):
        raise Invalid("提交的内容有误，请检查标出的字段。", fields={scope: [N_("这个角色必须填写所属单位。")]})
    if role in ("volunteer", "enterprise") and not data.get("palace_id"):
        raise Invalid("提交的内容有误，请检查标出的字段。", fields={"palace_id": [N_("请填写所属文化宫。")]})
    return {
        "username": data["username"],
        "display_name": data.get("display_name") or data["username"],
        "password_hash": hash_password(checked_password(data["password"], data["username"])),
        "role": role,
        "palace_id": data.get("palace_id"),
        "enterprise_id": data.get("enterprise_id") if role == "enterprise" else None,
        "volunteer_id": data.get("volunteer_id") if role == "volunteer" else None,
        "union_card": data.get("union_card"),
        "active": True,
        "created_at": at,
    }


def username_taken() -> Conflict:
    return Conflict("这个用户名已被使用。", "USERNAME_TAKEN", {"username": ["这个用户名已被使用。"]})


def check_sign_in(doc: dict | None, password: str) -> None:
    """Refuse a sign-in (``doc`` the account as stored, or None): a wrong name or password, a
    registration waiting or refused, an account closed."""
    if doc is None or not password_matches(doc["password_hash"], password):
        raise Unauthorized("用户名或密码不对。", "BAD_CREDENTIALS")
    if doc.get("status") == "pending":
        raise Forbidden("您的注册正在等待文化宫调度员审核，通过后即可登录。", "REGISTRATION_PENDING")
    if doc.get("status") == "rejected":
        raise Forbidden(
            "您的注册没有通过审核：{reason}", "REGISTRATION_REJECTED", params={"reason": doc.get("reason") or ""}
        )
    if not doc.get("active"):
        raise Unauthorized("用户名或密码不对。", "BAD_CREDENTIALS")


def session_expires(at: dt.datetime, hours: float) -> dt.datetime:
    return at + dt.timedelta(hours=hours)


def check_token(token) -> None:
    if not isinstance(token, str) or not token:
        raise Unauthorized("请先登录。")


def check_live(session: dict | None, at: dt.datetime) -> dict:
    """The session (as stored) while it lasts, else 401."""
    if session is None or session["expires_at"] <= at:
        raise Unauthorized("登录已过期，请重新登录。", "SESSION_EXPIRED")
    return session


def stored_user(user: dict) -> dict:
    """A new account as stored: its username is also the document's ``_id``."""
    return {**user, "_id": user["username"]}


def principal(user: dict) -> dict:
    """What the gateway knows of a signed-in person: who, which role, which scope."""
    return {k: user.get(k) for k in ("username", "display_name", "role", "palace_id", "enterprise_id", "volunteer_id")}


def new_registration(data: dict, at: dt.datetime) -> dict:
    """A self-registered account: inactive until a dispatcher of its palace approves it. Its
    enterprise or volunteer id is fixed now, so approving twice creates the record once."""
    role = data["role"]
    profile = data[role]
    checked_password(data["password"], data["username"], profile.get("phone") or profile.get("contact_phone"))
    return {
        "_id": data["username"],
        "display_name": data.get("display_name") or profile["name"],
        "password_hash": hash_password(data["password"]),
        "role": role,
        "palace_id": data["palace_id"],
        "enterprise_id": secrets.token_hex(8) if role == "enterprise" else None,
        "volunteer_id": secrets.token_hex(8) if role == "volunteer" else None,
        "union_card": data.get("union_card"),
        "email": data.get("email"),
        "profile": profile,
        "status": "pending",
        "reason": None,
        "decided_by": None,
        "active": False,
        "created_at": at,
    }


def approval(by: str, at: dt.datetime) -> dict:
    """What approving a registration changes on the account."""
    return {"status": "approved", "active": True, "decided_by": by, "decided_at": at}


def rejection(reason: str, by: str, at: dt.datetime) -> dict:
    """What refusing a registration changes on the account."""
    return {"status": "rejected", "active": False, "reason": reason, "decided_by": by, "decided_at": at}


def decided_before(current: dict, change: dict) -> bool:
    """A registration already decided the way ``change`` decides it: asking again changes nothing."""
    return current["status"] == change["status"]


def reaches(doc: dict, kind: str) -> bool:
    """Whether an account found for a ``kind`` of id (``REACHED_ROLE``) is one notifications tell:
    of the role that kind reaches, open, and approved when it registered itself."""
    return doc.get("role") == REACHED_ROLE[kind] and doc.get("active") and doc.get("status", "approved") == "approved"


def account_principal(doc: dict) -> dict:
    """The principal of an account as stored (username in ``_id``)."""
    return principal({**doc, "username": doc["_id"]})


def registration_view(doc: dict) -> dict:
    return {**{k: v for k, v in doc.items() if k not in ("_id", "password_hash")}, "username": doc["_id"]}


def decision_event(doc: dict) -> dict:
    """What ``registration_decided`` tells of a decided registration (``doc`` as stored)."""
    profile = doc.get("profile") or {}
    return {
        "username": doc["_id"],
        "role": doc["role"],
        "palace_id": doc["palace_id"],
        "enterprise_id": doc.get("enterprise_id"),
        "volunteer_id": doc.get("volunteer_id"),
        "display_name": doc.get("display_name"),
        "decision": doc["status"],
        "reason": doc.get("reason"),
        "email": doc.get("email"),
        "phone": profile.get("phone") or profile.get("contact_phone"),
    }


# ---------------------------------------------------------------------- passwords

MIN_PASSWORD = 10
MAX_PASSWORD = 128
# the list shipped beside this file, read once as the module loads (lower case, # comments)
_COMMON_FILE = os.path.join(os.path.dirname(__file__), "common_passwords.txt")
with open(_COMMON_FILE, encoding="utf-8") as _f:
    COMMON_PASSWORDS = frozenset(w.strip().lower() for w in _f if w.strip() and not w.startswith("#"))


def _straight_run(text: str) -> bool:
    """One character repeated, or a run up or down by one (``1234567890``, ``abcdefghij``)."""
    steps = {ord(b) - ord(a) for a, b in zip(text, text[1:], strict=False)}
    return len(steps) == 1 and steps <= {-1, 0, 1}


def password_problem(password: str, username: str | None = None, phone: str | None = None) -> Message | None:
    """Why a new password is refused (a message), or None when it is strong enough: at least
    MIN_PASSWORD and at most MAX_PASSWORD characters, not one of the common ones, not a straight
    run, not the username or the phone number."""
    if len(password) < MIN_PASSWORD:
        return Message("密码至少要 {n} 个字符。", n=MIN_PASSWORD)
    if len(password) > MAX_PASSWORD:
        return Message("密码最多 {n} 个字符。", n=MAX_PASSWORD)
    low = password.lower()
    if low in COMMON_PASSWORDS or _straight_run(low):
        return Message("这个密码太常见，很容易被猜到，请换一个。")
    own = {v.lower() for v in (username, phone) if v}
    digits = "".join(c for c in phone or "" if c.isdigit())
    if low in own or (digits and "".join(c for c in low if c.isdigit()) == digits and len(digits) >= 5):
        return Message("密码不能是用户名或电话号码。")
    return None


def checked_password(password: str, username: str | None = None, phone: str | None = None, field="password") -> str:
    """The new password, or Invalid with the reason next to ``field``."""
    problem = password_problem(password, username, phone)
    if problem is not None:
        raise Invalid("提交的内容有误，请检查标出的字段。", fields={field: [problem]})
    return password


def account_phone(doc: dict) -> str | None:
    """The phone number an account gave when it registered (a new password must not be it)."""
    profile = doc.get("profile") or {}
    return profile.get("phone") or profile.get("contact_phone")


def check_old_password(doc: dict | None, password: str) -> dict:
    if doc is None or not password_matches(doc["password_hash"], password):
        raise Invalid("提交的内容有误，请检查标出的字段。", "WRONG_PASSWORD", {"old_password": [N_("原密码不对。")]})
    return doc


# ---------------------------------------------------------------------- resets


def new_reset_token() -> str:
    """A reset token: 32 random bytes. Only its SHA-256 is stored."""
    return secrets.token_urlsafe(32)


def check_may_reset(by: dict, target: dict | None) -> dict:
    """A dispatcher resets the password of an account of their own palace (not an admin's); an
    admin that of any account. The account as stored, or 404/403."""
    if target is None:
        raise NotFound("找不到这个账号。", "ACCOUNT_NOT_FOUND")
    if by["role"] == "admin":
        return target
    if by["role"] == "dispatcher" and target.get("role") != "admin" and target.get("palace_id") == by.get("palace_id"):
        return target
    raise Forbidden("您只能为本文化宫的账号重置密码。")


def check_reset_usable(reset: dict | None, at: dt.datetime) -> dict:
    """A reset (as stored) not used and not expired, else 400."""
    if reset is None or reset.get("used_at") is not None or reset["expires_at"] <= at:
        raise Invalid("这个重置链接无效、已用过或已过期，请联系调度员重新生成。", "RESET_TOKEN_INVALID")
    return reset


# ---------------------------------------------------------------------- sign-in throttling


@dataclass(frozen=True)
class Throttle:
    """How failed sign-ins slow down the next try, per account or per client address."""

    limit: int = 5  # failures within ``window`` that lock
    window: dt.timedelta = dt.timedelta(minutes=15)
    lock: dt.timedelta = dt.timedelta(minutes=15)
    longest_wait: dt.timedelta = dt.timedelta(seconds=60)

    @property
    def free(self) -> int:
        """Failures that make no wait: the first half of the limit (2 of 5)."""
        return self.limit // 2


def sign_in_wait(failures: int, policy: Throttle) -> dt.timedelta:
    """How long after the ``failures``-th failure the next try waits: nothing at first, then 1, 2,
    4 … seconds (at most ``longest_wait``), and ``lock`` once ``failures`` reach the limit."""
    if failures >= policy.limit:
        return policy.lock
    if failures <= policy.free:
        return dt.timedelta(0)
    return min(dt.timedelta(seconds=2 ** (failures - policy.free - 1)), policy.longest_wait, policy.lock)


def _counting(state: dict | None, at: dt.datetime, policy: Throttle) -> bool:
    """Whether a throttle's state still counts: inside its window, or locked."""
    if state is None:
        return False
    locked = state.get("locked_until")
    return state["first_at"] + policy.window > at or (locked is not None and locked > at)


def next_try(state: dict | None, at: dt.datetime, policy: Throttle) -> dt.datetime | None:
    """When the next sign-in may be tried (``state`` as stored for an account or an address), or
    None when it may be tried now."""
    if not _counting(state, at, policy):
        return None
    locked = state.get("locked_until")
    if locked is not None and locked > at:
        return locked
    ready = state["last_at"] + sign_in_wait(state["failures"], policy)
    return ready if ready > at else None


def after_failure(state: dict | None, at: dt.datetime, policy: Throttle) -> dict:
    """A throttle's state after one more failed sign-in at ``at``: counted from the first in the
    window, locked once the count reaches the limit; ``expires_at`` is when it may be forgotten."""
    if not _counting(state, at, policy):
        state = {"failures": 0, "first_at": at, "locked_until": None}
    failures = state["failures"] + 1
    locked = at + policy.lock if failures >= policy.limit else state.get("locked_until")
    wait_ends = at + sign_in_wait(failures, policy)
    ends = max([state["first_at"] + policy.window, wait_ends] + ([locked] if locked else []))
    return {
        "failures": failures,
        "first_at": state["first_at"],
        "last_at": at,
        "locked_until": locked,
        "expires_at": ends,
    }


def too_soon(until: dt.datetime, at: dt.datetime, locked: bool) -> Throttled:
    """The answer to a sign-in tried before ``until``: when to try again."""
    seconds = max(1, int((until - at).total_seconds() + 0.999))
    if locked:
        return Throttled(
            "登录失败次数太多，已暂时锁定，请在 {at} 之后再试。",
            "SIGN_IN_LOCKED",
            params={"at": month_day_time(until), "retry_after": seconds},
        )
    return Throttled(
        "登录尝试太频繁，请 {seconds} 秒后再试。", "SIGN_IN_WAIT", params={"seconds": seconds, "retry_after": seconds}
    )


# ---------------------------------------------------------------------- invitations


def invitation_record(invitation_id: str, key: str, volunteer: dict, palace_id: str, by: str, at, expires) -> dict:
    """A claim invitation as stored: under its code's keyed hash, never the code."""
    return {
        "_id": key,
        "invitation_id": invitation_id,
        "volunteer_id": volunteer["volunteer_id"],
        "palace_id": palace_id,
        "name": volunteer.get("name"),
        "phone": volunteer["phone"],
        "phone_last4": volunteer["phone_last4"],
        "by": by,
        "created_at": at,
        "expires_at": expires,
        "used_at": None,
        "revoked_at": None,
    }


def check_claimable(invitation: dict | None, phone_last4: str, at: dt.datetime) -> dict:
    """An invitation (as stored) whose code and phone digits match, unused, not sent again since
    and not expired; else 400 saying which, as far as the code and the digits were right."""
    if invitation is None or invitation["phone_last4"] != phone_last4:
        raise Invalid("邀请码或手机号后四位不对，请核对短信后再试。", "INVITATION_INVALID")
    if invitation.get("used_at") is not None:
        raise Invalid("这个邀请码已经用过了，请直接登录；忘记密码请联系文化宫调度员。", "INVITATION_USED")
    if invitation.get("revoked_at") is not None or invitation["expires_at"] <= at:
        raise Invalid("这个邀请码已过期或已作废，请联系文化宫调度员重新发送。", "INVITATION_EXPIRED")
    return invitation


def already_claimed() -> Conflict:
    return Conflict("这位志愿者已经有账号了，请直接登录；忘记密码请联系文化宫调度员。", "ALREADY_CLAIMED")


def claimed_user(invitation: dict, username: str, password_hash: str, at) -> dict:
    """The volunteer's account made by a claim, as stored: open at once, linked to the record."""
    return {
        "_id": username,
        "display_name": invitation.get("name") or username,
        "password_hash": password_hash,
        "role": "volunteer",
        "palace_id": invitation["palace_id"],
        "enterprise_id": None,
        "volunteer_id": invitation["volunteer_id"],
        "union_card": None,
        "profile": {"phone": invitation.get("phone"), "name": invitation.get("name")},
        "active": True,
        "claimed_from": invitation["invitation_id"],
        "created_at": at,
    }


def invitation_state(volunteer_id: str, account: dict | None, invitation: dict | None, at) -> dict:
    """Whether a volunteer claimed an account, was invited (until when), or the invitation ran out."""
    out = {"volunteer_id": volunteer_id, "status": "none", "username": None, "expires_at": None, "invited_at": None}
    if account is not None:
        return {**out, "status": "claimed", "username": account["_id"]}
    if invitation is None:
        return out
    live = invitation.get("used_at") is None and invitation["expires_at"] > at
    return {
        **out,
        "status": "invited" if live else "expired",
        "expires_at": invitation["expires_at"].isoformat(),
        "invited_at": invitation["created_at"].isoformat(),
    }


def account_view(doc: dict) -> dict:
    """An account as staff find it: who, which role and scope, whether it is open."""
    return {
        **principal({**doc, "username": doc["_id"]}),
        "status": doc.get("status"),
        "active": bool(doc.get("active")),
        "created_at": doc.get("created_at"),
    }


def account_matches(doc: dict, words: str) -> bool:
    """Whether an account is what staff typed: part of its username, name or ids."""
    if not words:
        return True
    fields_ = (doc["_id"], doc.get("display_name"), doc.get("volunteer_id"), doc.get("enterprise_id"))
    text = " ".join(str(f) for f in fields_ if f).lower()
    return all(w in text for w in words.lower().split())


# the privacy notice until an admin publishes the palace's own (version 1)
DEFAULT_NOTICE = N_(
    "本平台由工人文化宫运营，用于“送文化下基层”的点单、派单、服务和评议。"
    "我们收集的个人信息：账号名称；志愿者的姓名、手机号码、工会会员互助服务卡号、所在区域、技能、空闲时间和服务时长；"
    "企业工会的联系人和联系电话。用途：安排服务、通知本人、统计服务场次和时长。"
    "志愿者的联系电话只给本文化宫调度员；企业工会只看到服务当天人员的姓名和技能；"
    "借调到联盟文化宫须本人另行同意。观众评议是匿名的。"
    "您可以随时在账号菜单中下载自己的全部数据，并可请文化宫更正您的信息。"
)


def notice_view(doc: dict | None) -> dict:
    if doc is None:
        return {"version": 1, "text": str(DEFAULT_NOTICE), "published_at": None, "published_by": None}
    return {"version": doc["_id"], "text": doc["text"], "published_at": doc["published_at"], "published_by": doc["by"]}


def check_notice_version(given: int, current: int) -> None:
    if given != current:
        raise Invalid(
            "提交的内容有误，请检查标出的字段。",
            fields={"notice_version": [N_("隐私政策已更新，请阅读新版本后再同意。")]},
        )


def consent(version: int, at: dt.datetime) -> dict:
    """What agreeing to a notice changes on the account: the version and when, kept in a list."""
    return {"set": {"notice_version": version, "notice_agreed_at": at}, "push": {"version": version, "at": at}}


# ---------------------------------------------------------------------- erasure

ERASURE_STATUSES = ("pending", "cancelled", "done")


def check_may_erase(by: dict, target: dict | None) -> dict:
    """A person closes their own account; a dispatcher records the request of a person of their
    own palace (not an admin's); an admin that of anyone but themselves. The account, or 404/403."""
    if target is None or target.get("erased"):
        raise NotFound("找不到这个账号。", "ACCOUNT_NOT_FOUND")
    if by["username"] == target["_id"]:
        return target
    if by["role"] == "admin":
        return target
    if by["role"] == "dispatcher" and target.get("role") != "admin" and target.get("palace_id") == by.get("palace_id"):
        return target
    raise Forbidden("您只能为本文化宫的账号登记注销申请。")


def new_erasure(erasure_id: str, target: dict, by: dict, at: dt.datetime, grace_days: float) -> dict:
    """A request to erase an account and its person's data, carried out after the grace period."""
    return {
        "_id": erasure_id,
        "username": target["_id"],
        "role": target.get("role"),
        "palace_id": target.get("palace_id"),
        "volunteer_id": target.get("volunteer_id"),
        "enterprise_id": target.get("enterprise_id"),
        "status": "pending",
        "requested_at": at,
        "requested_by": {"username": by["username"], "role": by["role"]},
        "due_at": at + dt.timedelta(days=max(grace_days, 0.0)),
        "cancelled_at": None,
        "cancelled_by": None,
        "done_at": None,
    }


def pseudonym(erasure_id: str) -> str:
    """The anonymous name an erased person's past steps are kept under (nothing of them in it)."""
    return f"已注销用户-{erasure_id[:8]}"


def erasure_texts(user: dict, held_elsewhere: dict | None = None) -> list[str]:
    """What says who the person of an account is, as accounts holds it (and as dispatch holds a
    volunteer: ``held_elsewhere``): their name, phone, card number and email. An enterprise
    union's own name is the organisation's, not a person's, and stays."""
    profile = user.get("profile") or {}
    found = [user.get("email"), user.get("union_card"), profile.get("phone"), profile.get("email")]
    found += [profile.get("contact_name"), profile.get("contact_phone"), profile.get("union_card")]
    if user.get("role") != "enterprise":
        found += [profile.get("name")]
        if user.get("display_name") and user.get("display_name") != user["_id"]:
            found.append(user["display_name"])
    found += list((held_elsewhere or {}).values())
    return needles(v for v in found if isinstance(v, str))


def erasure_view(doc: dict) -> dict:
    return {
        "erasure_id": doc["_id"],
        "username": doc["username"],
        "role": doc.get("role"),
        "palace_id": doc.get("palace_id"),
        "status": doc["status"],
        "requested_at": doc["requested_at"],
        "requested_by": (doc.get("requested_by") or {}).get("username"),
        "due_at": doc["due_at"],
        "cancelled_at": doc.get("cancelled_at"),
        "done_at": doc.get("done_at"),
    }
