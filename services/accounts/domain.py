"""People who sign in, their roles, and what each role may see. No I/O."""

from __future__ import annotations

import datetime as dt
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from common.errors import N_, Conflict, Forbidden, Invalid, Unauthorized

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
        "password_hash": hash_password(data["password"]),
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
