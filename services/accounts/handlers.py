"""Accounts use cases: plain functions of (input, database or store). They return what the
service answers; telling the processes that keep sessions or recipients in memory is the
service's part."""

from __future__ import annotations

import datetime as dt

from pymongo.errors import DuplicateKeyError

from common import erasure as erasing
from common import invitations as codes
from common.errors import Conflict, NotFound, Unauthorized
from contracts.base import new_id, now
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
    """An enterprise union or a volunteer registers; the account waits for a dispatcher. They
    agree to the privacy notice as it is now (its version and the moment are kept)."""
    at = now()
    domain.check_notice_version(data["notice_version"], current_notice(db)["version"])
    doc = domain.new_registration(data, at)
    change = domain.consent(data["notice_version"], at)
    doc.update(change["set"], consents=[change["push"]])
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


# ------------------------------------------------------------------- invitations

INVITES_PER_TRANSACTION = 500


def invite(data: dict, by: str, store, days: float, secret: str) -> dict:
    """Invite volunteers to claim their accounts: one code each (only its keyed hash is stored),
    told in ``invitations_issued`` by its invitation's id (notifications sends the code it derives
    from it). Volunteers with an account are left out; so are those already invited, unless
    ``resend``, which replaces their invitation. A resend of one volunteer answers its code and
    link, shown once to the staff member."""
    at = now()
    expires = at + dt.timedelta(days=days)
    wanted = {v["volunteer_id"]: v for v in data["volunteers"]}
    ids = sorted(wanted)
    have_account = repository.accounts_of_volunteers(store.db, ids)
    if data["resend"] and len(ids) == 1 and ids[0] in have_account:
        raise domain.already_claimed()
    held = {} if data["resend"] else repository.latest_invitations(store.db, ids)
    chosen = [i for i in ids if i not in have_account and not (i in held and _live(held[i], at))]
    made: dict[str, str] = {}
    for start in range(0, len(chosen), INVITES_PER_TRANSACTION):
        batch = chosen[start : start + INVITES_PER_TRANSACTION]
        docs, told = [], []
        for vid in batch:
            volunteer = {**wanted[vid], "phone_last4": codes.last4(wanted[vid]["phone"])}
            invitation_id = new_id()
            code = codes.code_for(secret, invitation_id)
            made[vid] = code
            docs.append(
                domain.invitation_record(
                    invitation_id, codes.key_of(secret, code), volunteer, data["palace_id"], by, at, expires
                )
            )
            told.append(
                {
                    "invitation_id": invitation_id,
                    "volunteer_id": vid,
                    "name": volunteer.get("name"),
                    "phone": volunteer["phone"],
                }
            )

        def write(uow, batch=batch, docs=docs, told=told):
            repository.revoke_invitations(uow, batch, at)
            repository.insert_invitations(uow, docs)
            uow.emit(
                "invitations_issued",
                palace_id=data["palace_id"],
                palace_name=data.get("palace_name"),
                by=by,
                resent=bool(data["resend"]),
                expires_at=expires,
                invitations=told,
            )

        store.transaction(write)
    out = {
        "invited": len(chosen),
        "skipped": len(ids) - len(chosen),
        "expires_at": expires.isoformat() if chosen else None,
    }
    if data["resend"] and len(chosen) == 1:
        code = made[chosen[0]]
        out.update(volunteer_id=chosen[0], code=codes.shown(code), link=f"/claim?code={code}")
    return out


def _live(invitation: dict, at: dt.datetime) -> bool:
    return invitation.get("used_at") is None and invitation.get("revoked_at") is None and invitation["expires_at"] > at


def claim(data: dict, store, secret: str, session_hours: float) -> dict:
    """A volunteer claims their account with the code they were sent and their phone's last four
    digits: the chosen username and password (the password rule holds) open an account linked to
    their volunteer record, the code is used up, and they are signed in (a session, as ``login``)."""
    at = now()
    key = codes.key_of(secret, data["code"])
    invitation = domain.check_claimable(repository.find_invitation(store.db, key), data["phone_last4"], at)
    if repository.accounts_of_volunteers(store.db, [invitation["volunteer_id"]]):
        raise domain.already_claimed()
    username = data["username"]
    password = domain.checked_password(data["password"], username, invitation.get("phone"))
    doc = domain.claimed_user(invitation, username, domain.hash_password(password), at)

    def write(uow):
        used = repository.use_invitation(uow, key, at)  # None: used, sent again or expired meanwhile
        domain.check_claimable(used or {**invitation, "used_at": at}, data["phone_last4"], at)
        if repository.accounts_of_volunteers(uow.db, [invitation["volunteer_id"]], session=uow.session):
            raise domain.already_claimed()
        repository.insert_user_in(uow, doc)
        uow.emit(
            "invitation_claimed",
            invitation_id=invitation["invitation_id"],
            username=username,
            volunteer_id=invitation["volunteer_id"],
            palace_id=invitation["palace_id"],
            phone=invitation.get("phone"),
        )

    try:
        store.transaction(write)
    except DuplicateKeyError:
        raise domain.username_taken() from None
    token = domain.new_token()
    expires = domain.session_expires(now(), session_hours)
    principal = domain.account_principal(doc)
    repository.insert_session(store.db, token_key(token), principal, expires)
    return {"token": token, "expires_at": expires.isoformat(), "principal": principal}


def invitation_states(palace_id: str, db) -> list[dict]:
    """Whether each volunteer of a palace who has an account or an invitation claimed it, was
    invited (until when), or the invitation ran out."""
    at = now()
    accounts = repository.palace_volunteer_accounts(db, palace_id)
    invited = repository.palace_invitations(db, palace_id)
    return [
        domain.invitation_state(vid, accounts.get(vid), invited.get(vid), at)
        for vid in sorted(set(accounts) | set(invited))
    ]


def list_accounts(palace_id: str | None, words: str, db) -> list[dict]:
    """A palace's accounts that match what staff typed (part of a username, a name or an id)."""
    found = [d for d in repository.accounts(db, palace_id) if domain.account_matches(d, words)]
    return [domain.account_view(d) for d in found[: repository.ACCOUNTS_LISTED]]


def ping(db) -> str:
    repository.ping(db)
    return "ok"


# ---------------------------------------------------------------------- the privacy notice


def current_notice(db) -> dict:
    return domain.notice_view(repository.latest_notice(db))


def publish_notice(text: str, by: str, store) -> dict:
    """A new version of the notice; everyone who agreed to an older one is asked again."""
    for _ in range(3):
        version = current_notice(store.db)["version"] + 1
        doc = {"_id": version, "text": text, "published_at": now(), "by": by}

        def write(uow, doc=doc):
            if repository.insert_notice(uow, doc):
                uow.emit("privacy_notice_published", version=doc["_id"], by=by)
                return True
            return False

        if store.transaction(write):
            return domain.notice_view(doc)
    raise Conflict("隐私政策刚被别人修改过，请刷新后再试。", "NOTICE_CHANGED")


def give_consent(username: str, version: int, db) -> dict:
    domain.check_notice_version(version, current_notice(db)["version"])
    repository.record_consent(db, username, domain.consent(version, now()))
    return notice_status(username, db)


def notice_status(username: str, db) -> dict:
    user = repository.find_user(db, username) or {}
    return {
        "version": current_notice(db)["version"],
        "accepted": user.get("notice_version"),
        "accepted_at": user.get("notice_agreed_at"),
    }


# --------------------------------------------------------------------- erasure


def request_erasure(username: str, by: dict, store, grace_days: float) -> dict:
    """A person asks that their account and data be erased, or staff record that they asked: it
    is carried out after ``grace_days`` unless cancelled. Asking again changes nothing."""
    target = domain.check_may_erase(by, repository.find_user(store.db, username))
    doc = domain.new_erasure(new_id(), target, by, now(), grace_days)

    def write(uow):
        existing = repository.pending_erasure(uow.db, username, uow.session)
        if existing is not None:
            return existing
        repository.insert_erasure(uow, doc)
        uow.emit(
            "erasure_requested",
            erasure_id=doc["_id"],
            username=username,
            role=doc["role"],
            palace_id=doc["palace_id"],
            volunteer_id=doc["volunteer_id"],
            enterprise_id=doc["enterprise_id"],
            due_at=doc["due_at"],
            by=by["username"],
        )
        return doc

    return domain.erasure_view(store.transaction(write))


def cancel_erasure(username: str, by: dict, store) -> dict:
    """An erasure not yet carried out is cancelled (by the person, or by staff who may record one)."""
    domain.check_may_erase(by, repository.find_user(store.db, username))
    doc = repository.pending_erasure(store.db, username)
    if doc is None:
        raise NotFound("这个账号没有待执行的注销申请。", "NO_PENDING_ERASURE")
    change = {"status": "cancelled", "cancelled_at": now(), "cancelled_by": by["username"]}

    def write(uow):
        if not repository.close_erasure(uow, doc["_id"], change):
            raise Conflict("这份注销申请已经执行或已撤销。", "ERASURE_NOT_PENDING")
        uow.emit(
            "erasure_cancelled", erasure_id=doc["_id"], username=username, palace_id=doc["palace_id"], by=by["username"]
        )

    store.transaction(write)
    return domain.erasure_view(doc | change)


def erasure_of(username: str, db) -> dict | None:
    doc = repository.pending_erasure(db, username)
    return domain.erasure_view(doc) if doc else None


def list_erasures(palace_id: str | None, status: str, db) -> list[dict]:
    return [domain.erasure_view(d) for d in repository.erasures(db, palace_id, status)]


def carry_out(erasure: dict, store, held_elsewhere: dict | None) -> tuple[list[str], dict] | None:
    """Carry out a due erasure: the account and what was kept only for it go, ``person_erased``
    tells every service (the texts that say who the person is: what accounts holds of them and
    ``held_elsewhere``, e.g. dispatch's record of a volunteer), and this service's own erasure job
    is kept with it. The keys of the sessions ended and the event; None when it was no longer due."""
    user = repository.find_user(store.db, erasure["username"])
    event = {
        "erasure_id": erasure["_id"],
        "pseudonym": domain.pseudonym(erasure["_id"]),
        "username": erasure["username"],
        "role": erasure.get("role") or "volunteer",
        "palace_id": erasure.get("palace_id"),
        "volunteer_id": erasure.get("volunteer_id"),
        "enterprise_id": erasure.get("enterprise_id"),
        "texts": domain.erasure_texts(user or {"_id": erasure["username"]}, held_elsewhere),
        "requested_at": erasure["requested_at"],
    }

    def write(uow):
        if not repository.close_erasure(uow, erasure["_id"], {"status": "done", "done_at": now()}):
            return None
        keys = repository.forget_account(uow, user) if user else []
        uow.emit("person_erased", **event)
        erasing.remember(uow, event)
        return keys, event

    return store.transaction(write)
