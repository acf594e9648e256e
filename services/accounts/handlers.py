"""Accounts use cases: plain functions of (input, database or store). They return what the
service answers; telling the processes that keep sessions or recipients in memory is the
service's part."""

from __future__ import annotations

from common.errors import Conflict, NotFound
from contracts.base import now
from contracts.signals import token_key
from services.accounts import domain, repository


def create_user(data: dict, db) -> dict:
    """A new account (palace admins and the first-admin command); its principal."""
    doc = domain.stored_user(domain.new_user(data, now()))
    if not repository.insert_user(db, doc):
        raise domain.username_taken()
    return domain.account_principal(doc)


# -------------------------------------------------------------- self-registration


def register(data: dict, db) -> dict:
    """An enterprise union or a volunteer registers; the account waits for a dispatcher."""
    doc = domain.new_registration(data, now())
    if not repository.insert_user(db, doc):
        raise domain.username_taken()
    return domain.registration_view(doc)


def get_registration(username: str, db) -> dict:
    doc = repository.find_registration(db, username)
    if doc is None:
        raise NotFound("找不到这份注册申请。", "REGISTRATION_NOT_FOUND")
    return domain.registration_view(doc)


def list_registrations(palace_id: str | None, status: str, db) -> list[dict]:
    return [domain.registration_view(d) for d in repository.registrations(db, palace_id, status)]


def decide_pending(username: str, change: dict, uow) -> dict | None:
    """Decide a pending registration; the person is told (notifications) with the decision's
    commit. None when nothing was pending."""
    doc = repository.decide_registration(uow, username, change)
    if doc is not None:
        uow.emit("registration_decided", **domain.decision_event(doc))
    return doc


def decide(username: str, change: dict, store) -> tuple[dict, bool]:
    """Approve or refuse a registration (``change``: ``domain.approval`` or ``domain.rejection``);
    the registration and whether this call decided it."""
    doc = store.transaction(lambda uow: decide_pending(username, change, uow))
    if doc is not None:
        return domain.registration_view(doc), True
    current = get_registration(username, store.db)  # 404 when there is none
    if domain.decided_before(current, change):
        return current, False
    raise Conflict("这份注册申请已经处理过了。", "REGISTRATION_DECIDED")


def recipients(data: dict, db) -> list[dict]:
    """The open accounts of some volunteers, enterprise unions and palaces (their dispatchers),
    by username."""
    found: dict[str, dict] = {}
    for kind in domain.REACHED_ROLE:
        ids = data[kind]
        if not ids:
            continue
        for doc in repository.reached_by(db, kind, ids):
            if domain.reaches(doc, kind):
                found[doc["_id"]] = domain.account_principal(doc)
    return sorted(found.values(), key=lambda u: u["username"])


# ---------------------------------------------------------------------- sessions


def login(data: dict, db, session_hours: float) -> dict:
    """Username and password → a session token that expires after ``session_hours``."""
    doc = repository.find_user(db, data["username"])
    domain.check_sign_in(doc, data["password"])
    token = domain.new_token()
    expires = domain.session_expires(now(), session_hours)
    principal = domain.account_principal(doc)
    repository.insert_session(db, token_key(token), principal, expires)
    return {"token": token, "expires_at": expires.isoformat(), "principal": principal}


def live_session(token, db) -> dict:
    """The stored session of a token while it lasts, else 401."""
    domain.check_token(token)
    return domain.check_live(repository.find_session(db, token_key(token)), now())


def logout(token, db) -> str | None:
    """End a session; the token's key when there was a token to end."""
    if not isinstance(token, str):
        return None
    key = token_key(token)
    repository.delete_session(db, key)
    return key


def ping(db) -> str:
    repository.ping(db)
    return "ok"
