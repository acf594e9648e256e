"""Who may do what: every route names the roles it serves, and what it touches is checked to
belong to the caller (an enterprise's own orders, a dispatcher's own palace, a volunteer's own
offers). The rules are plain functions of the principal and the resource."""

from __future__ import annotations

from common.errors import Forbidden, Unauthorized

# Who may call a route, as each route declares it (services/gateway/routes.py).
ALL = ("enterprise", "dispatcher", "volunteer", "admin")
STAFF = ("dispatcher", "admin")
ENTERPRISE_AND_STAFF = ("enterprise", "dispatcher", "admin")
VOLUNTEER_AND_STAFF = ("volunteer", "dispatcher", "admin")
ENTERPRISE = ("enterprise",)
VOLUNTEER = ("volunteer",)
DISPATCHER = ("dispatcher",)
ADMIN = ("admin",)
PUBLIC = ("anyone",)  # no sign-in: the audience, registration, sign-in itself, health


def bearer(request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("请先登录。")
    return token.strip()


def client_address(request, trusted_proxy: bool) -> str:
    """The address a request came from, as the gateway sees it; behind a proxy of our own
    (``TRUSTED_PROXY``) the last one that proxy added to ``X-Forwarded-For``. Without that setting
    the header is anybody's to write, so it is ignored."""
    if trusted_proxy:
        forwarded = [a.strip() for a in request.headers.get("X-Forwarded-For", "").split(",") if a.strip()]
        if forwarded:
            return forwarded[-1][:64]
    return request.remote_addr or "unknown"


def allow(principal: dict, roles: tuple[str, ...]) -> dict:
    if principal["role"] not in roles:
        raise Forbidden("您的账号没有权限做这件事。")
    return principal


def palace_scope(principal: dict, palace_id: str | None) -> str | None:
    """The palace a listing is limited to: a dispatcher sees only their own palace."""
    if principal["role"] == "admin":
        return palace_id
    if palace_id and palace_id != principal.get("palace_id"):
        raise Forbidden("您只能查看本文化宫的数据。")
    return principal.get("palace_id")


def check_order(principal: dict, order: dict, roles: tuple[str, ...], crew: set[str] | None = None) -> None:
    """An enterprise touches its own orders, a dispatcher its palace's, a volunteer those it serves."""
    allow(principal, roles)
    role = principal["role"]
    if role == "admin":
        return
    if role == "enterprise" and order["enterprise_id"] == principal.get("enterprise_id"):
        return
    if role == "dispatcher" and order["palace_id"] == principal.get("palace_id"):
        return
    if role == "volunteer" and crew is not None and principal.get("volunteer_id") in crew:
        return
    raise Forbidden("这个订单不归您管理。")


def check_volunteer(principal: dict, volunteer: dict) -> None:
    """A volunteer's own record, or a dispatcher of the volunteer's palace."""
    role = principal["role"]
    if role == "admin":
        return
    if role == "volunteer" and principal.get("volunteer_id") == volunteer["volunteer_id"]:
        return
    if role == "dispatcher" and principal.get("palace_id") == volunteer["palace_id"]:
        return
    raise Forbidden("您不能查看或修改这位志愿者的信息。")


def trim_offer(principal: dict, offer: dict) -> dict:
    """The planner's reasons are for dispatchers; a volunteer sees only their own score."""
    if principal["role"] in STAFF or not offer.get("explanation"):
        return offer
    mine = offer["explanation"].get("score") if principal.get("volunteer_id") == offer["volunteer_id"] else None
    return {**offer, "explanation": {"score": mine} if mine else None}


def trim_plan(principal: dict, plan: dict) -> dict:
    if principal["role"] in STAFF:
        return plan
    code = plan.get("sign_in_code") if principal["role"] == "enterprise" else None  # shown on site, not sent
    return {
        **plan,
        "explanation": None,
        "phones": {},
        "sign_in_code": code,
        "offers": [trim_offer(principal, o) for o in plan.get("offers") or []],
    }
