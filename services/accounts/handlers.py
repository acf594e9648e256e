"""Accounts use cases: plain functions of (input, database or store). They return what the
service answers; telling the processes that keep sessions or recipients in memory is the
service's part."""

from __future__ import annotations

import datetime as dt

from common.errors import Conflict, NotFound, Unauthorized
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


def login(data: dict, store, session_hours: float, policies: dict, client: str | None = None) -> dict:
    """Username and password → a session token that expires after ``session_hours``. Failed tries
    slow down the next ones per account and per client address (``policies``: ``domain.Throttle``
    by ``account`` and ``client``) and lock them for a while; a success starts the account's
    count again. A name no account has is refused like a wrong password and counts nowhere (a
    script waiting for the demo accounts to appear asks for one over and over)."""
    db, at = store.db, now()
    keys = {f"account:{data['username']}": policies["account"]}
    if client:
        keys[f"client:{client}"] = policies["client"]
    _refuse_too_soon(repository.throttles(db, list(keys)), keys, at)
    doc = repository.find_user(db, data["username"])
    try:
        domain.check_sign_in(doc, data["password"])
    except Unauthorized:
        if doc is None:  # no account to guess at (the answer is the same): nothing counted
            raise
        locked = store.transaction(lambda uow: _count_failure(uow, keys, at, data["username"], client))
        if locked is not None:
            raise domain.too_soon(locked, at, True) from None
        raise
    repository.forget_throttle(db, f"account:{data['username']}")
    token = domain.new_token()
    expires = domain.session_expires(now(), session_hours)
    principal = domain.account_principal(doc)
    repository.insert_session(db, token_key(token), principal, expires)
    return {"token": token, "expires_at": expires.isoformat(), "principal": principal}


def _refuse_too_soon(states: dict, keys: dict, at: dt.datetime) -> None:
    """429 while an account or the client address waits, saying until when."""
    waits = []
    for key, policy in keys.items():
        until = domain.next_try(states.get(key), at, policy)
        if until is not None:
            waits.append((until, bool(states[key].get("locked_until"))))
    if waits:
        until, locked = max(waits)
        raise domain.too_soon(until, at, locked)


def _count_failure(uow, keys: dict, at: dt.datetime, username: str, client: str | None):
    """Count a failed sign-in for the account and the address; when it locked one of them, the
    lock's end (and ``sign_in_locked`` for each that it locked)."""
    states = repository.throttles(uow.db, list(keys), session=uow.session)
    locked = None
    for key, policy in keys.items():
        state = domain.after_failure(states.get(key), at, policy)
        repository.save_throttle(uow, key, state)
        if state["failures"] == policy.limit:
            locked = state["locked_until"]
            scope = key.partition(":")[0]
            uow.emit(
                "sign_in_locked",
                username=username,
                client=client,
                scope=scope,
                failures=state["failures"],
                locked_until=locked,
            )
    return locked


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


def end_sessions(username: str, by: str, store) -> list[str]:
    """Sign an account out everywhere; the keys of the sessions ended."""
    return store.transaction(lambda uow: _end_sessions(uow, username, by, "logout_all"))


def _end_sessions(uow, username: str, by: str, reason: str) -> list[str]:
    keys = repository.end_sessions(uow, username)
    uow.emit("sessions_ended", username=username, by=by, reason=reason, sessions=len(keys))
    return keys


# --------------------------------------------------------------------- passwords


def change_password(username: str, data: dict, store) -> list[str]:
    """The owner changes the password (the old one required); every session of the account ends.
    The keys of the sessions ended."""
    doc = domain.check_old_password(repository.find_user(store.db, username), data["old_password"])
    new = domain.checked_password(data["new_password"], username, domain.account_phone(doc), "new_password")
    hashed = domain.hash_password(new)

    def write(uow):
        repository.set_password(uow, username, hashed, now())
        uow.emit("password_changed", username=username, by=username, via="change")
        return _end_sessions(uow, username, username, "password_changed")

    return store.transaction(write)


def request_reset(username: str, by: dict, store, hours: float) -> dict:
    """A one-time reset link for an account, made by a dispatcher of its palace or an admin;
    only the token's hash is stored. The link, shown once."""
    target = domain.check_may_reset(by, repository.find_user(store.db, username))
    token, at = domain.new_reset_token(), now()
    expires = domain.session_expires(at, hours)

    def write(uow):
        record = {"username": username, "by": by["username"], "created_at": at, "expires_at": expires, "used_at": None}
        repository.insert_reset(uow, token_key(token), record)
        uow.emit(
            "password_reset_requested",
            username=username,
            role=target["role"],
            palace_id=target.get("palace_id"),
            enterprise_id=target.get("enterprise_id"),
            volunteer_id=target.get("volunteer_id"),
            by=by["username"],
            expires_at=expires,
        )

    store.transaction(write)
    return {"username": username, "token": token, "link": f"/reset?token={token}", "expires_at": expires.isoformat()}


def reset_password(data: dict, store) -> tuple[str, list[str]]:
    """A reset link's token and a new password: the password is set, the link used up, every
    session of the account ended and its sign-in lock lifted. The account and the keys ended."""
    key, at = token_key(data["token"]), now()
    reset = domain.check_reset_usable(repository.find_reset(store.db, key), at)
    username = reset["username"]
    doc = repository.find_user(store.db, username)
    if doc is None:
        domain.check_reset_usable(None, at)
    new = domain.checked_password(data["new_password"], username, domain.account_phone(doc), "new_password")
    hashed = domain.hash_password(new)

    def write(uow):
        domain.check_reset_usable(repository.use_reset(uow, key, at), at)
        repository.set_password(uow, username, hashed, at)
        uow.emit("password_changed", username=username, by=username, via="reset", requested_by=reset["by"])
        return _end_sessions(uow, username, username, "password_reset")

    keys = store.transaction(write)
    repository.forget_throttle(store.db, f"account:{username}")
    return username, keys


def ping(db) -> str:
    repository.ping(db)
    return "ok"
