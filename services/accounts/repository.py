"""The accounts database: the only file that knows its collections and indexes.

``users`` holds every account under its username (``_id``); a self-registered one also has a
``status``. ``sessions`` holds a token's hash (``_id``), the principal and when it expires (a TTL
index removes it then). ``password_resets`` holds a reset token's hash (``_id``), whose account,
who made it and when it expires (TTL); ``sign_in_throttles`` the failed sign-ins of an account
(``account:<username>``) or a client address (``client:<address>``), kept until ``expires_at`` (TTL).
``invitations`` holds a claim code's keyed hash (``_id``), the volunteer and palace it is for, the
phone's last four digits, when it expires and whether it was used or sent again (``revoked_at``);
kept ``KEEP_INVITATIONS`` past its expiry (TTL), so the volunteer list can say it ran out.
"""

from __future__ import annotations

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from common import retention
from common.personal import records
from common.store import find_and_update

REGISTRATIONS_LISTED = 500
ACCOUNTS_READ = 5000
ACCOUNTS_LISTED = 200
KEEP_INVITATIONS_SECONDS = 90 * 24 * 3600
RECIPIENTS_READ = 1000

# whose accounts ``recipients`` reads, by the kind of id asked for
_REACHED_BY = {
    "volunteer": lambda ids: {"volunteer_id": {"$in": ids}},
    "enterprise": lambda ids: {"enterprise_id": {"$in": ids}},
    "palace": lambda ids: {"role": "dispatcher", "palace_id": {"$in": ids}},
}


def ensure_indexes(db) -> None:
    ensure_erasure_indexes(db)
    db.sessions.create_index([("expires_at", ASCENDING)], expireAfterSeconds=0)
    db.sessions.create_index([("principal.username", ASCENDING)])
    db.password_resets.create_index([("username", ASCENDING)])
    db.password_resets.create_index([("expires_at", ASCENDING)], expireAfterSeconds=0)
    db.sign_in_throttles.create_index([("expires_at", ASCENDING)], expireAfterSeconds=0)
    db.users.create_index([("role", ASCENDING), ("palace_id", ASCENDING)])
    db.users.create_index([("status", ASCENDING), ("palace_id", ASCENDING), ("created_at", ASCENDING)])
    db.users.create_index([("volunteer_id", ASCENDING)])
    db.users.create_index([("enterprise_id", ASCENDING)])
    db.users.create_index([("palace_id", ASCENDING), ("_id", ASCENDING)])
    db.invitations.create_index([("volunteer_id", ASCENDING), ("created_at", ASCENDING)])
    db.invitations.create_index([("palace_id", ASCENDING), ("created_at", ASCENDING)])
    db.invitations.create_index([("expires_at", ASCENDING)], expireAfterSeconds=KEEP_INVITATIONS_SECONDS)


def retention_oldest(db) -> dict:
    """The oldest time of each kind common.retention lists for accounts (each removed by its
    TTL index above)."""
    return {
        name: retention.oldest(db[name], "expires_at")
        for name in ("sessions", "password_resets", "sign_in_throttles", "invitations")
    }


# ------------------------------------------------------------------------- users


def insert_user(db, doc: dict) -> bool:
    """Store a new account (``doc`` as stored, ``_id`` its username); False when the name is taken."""
    try:
        db.users.insert_one(doc)
    except DuplicateKeyError:
        return False
    return True


def find_user(db, username: str) -> dict | None:
    return db.users.find_one({"_id": username})


def find_registration(db, username: str) -> dict | None:
    return db.users.find_one({"_id": username, "status": {"$exists": True}})


def registrations(db, palace_id: str | None, status: str) -> list[dict]:
    """A palace's (or every palace's) registrations in ``status``, oldest first."""
    query = {"status": status, **({"palace_id": palace_id} if palace_id else {})}
    return list(db.users.find(query).sort("created_at", ASCENDING).limit(REGISTRATIONS_LISTED))


def decide_registration(uow, username: str, change: dict) -> dict | None:
    """Apply ``change`` to a registration still pending; the decided document, or None when there
    is none pending."""
    query = {"_id": username, "status": "pending"}
    return find_and_update(uow.db.users, query, {"$set": change}, after=True, session=uow.session)


def reached_by(db, kind: str, ids: list[str]):
    """The accounts a volunteer's, an enterprise union's or a palace's ids reach (``kind``), as
    stored; whether each is open is the caller's rule."""
    return db.users.find(_REACHED_BY[kind](ids), limit=RECIPIENTS_READ)


# ---------------------------------------------------------------------- sessions


def insert_session(db, key: str, principal: dict, expires_at) -> None:
    db.sessions.insert_one({"_id": key, "principal": principal, "expires_at": expires_at})


def find_session(db, key: str) -> dict | None:
    return db.sessions.find_one({"_id": key})


def delete_session(db, key: str) -> None:
    db.sessions.delete_one({"_id": key})


def end_sessions(uow, username: str) -> list[str]:
    """End every session of an account; the keys of those ended."""
    keys = [d["_id"] for d in uow.db.sessions.find({"principal.username": username}, {"_id": 1}, session=uow.session)]
    if keys:
        uow.db.sessions.delete_many({"_id": {"$in": keys}}, session=uow.session)
    return keys


# ------------------------------------------------------------------ passwords


def set_password(uow, username: str, password_hash: str, at) -> None:
    uow.db.users.update_one(
        {"_id": username}, {"$set": {"password_hash": password_hash, "password_changed_at": at}}, session=uow.session
    )


def insert_reset(uow, key: str, doc: dict) -> None:
    uow.db.password_resets.insert_one({**doc, "_id": key}, session=uow.session)


def use_reset(uow, key: str, at) -> dict | None:
    """Mark a reset used, once: the reset as it was, or None when it is unknown, used already or
    expired."""
    query = {"_id": key, "used_at": None, "expires_at": {"$gt": at}}
    return find_and_update(uow.db.password_resets, query, {"$set": {"used_at": at}}, session=uow.session)


def find_reset(db, key: str) -> dict | None:
    return db.password_resets.find_one({"_id": key})


# ------------------------------------------------------------------ sign-in throttles


def throttles(db, keys: list[str], session=None) -> dict[str, dict]:
    return {d["_id"]: d for d in db.sign_in_throttles.find({"_id": {"$in": keys}}, session=session)}


def save_throttle(uow, key: str, state: dict) -> None:
    uow.db.sign_in_throttles.replace_one({"_id": key}, {**state, "_id": key}, upsert=True, session=uow.session)


def forget_throttle(db, key: str) -> None:
    db.sign_in_throttles.delete_one({"_id": key})


# ------------------------------------------------------------------ invitations


def insert_user_in(uow, doc: dict) -> None:
    """Store a new account inside the caller's transaction (DuplicateKeyError when the name is taken)."""
    uow.db.users.insert_one(doc, session=uow.session)


def accounts_of_volunteers(db, volunteer_ids: list[str], session=None) -> dict[str, dict]:
    """The accounts linked to some volunteers, by volunteer id."""
    if not volunteer_ids:
        return {}
    found = db.users.find({"volunteer_id": {"$in": volunteer_ids}}, session=session)
    return {d["volunteer_id"]: d for d in found if d.get("role") == "volunteer"}


def latest_invitations(db, volunteer_ids: list[str], session=None) -> dict[str, dict]:
    """The newest invitation of each of some volunteers."""
    if not volunteer_ids:
        return {}
    latest: dict[str, dict] = {}
    for doc in db.invitations.find({"volunteer_id": {"$in": volunteer_ids}}, session=session):
        held = latest.get(doc["volunteer_id"])
        if held is None or doc["created_at"] > held["created_at"]:
            latest[doc["volunteer_id"]] = doc
    return latest


def revoke_invitations(uow, volunteer_ids: list[str], at) -> int:
    """Invitations of these volunteers not used yet stop working (one sent again replaces them)."""
    query = {"volunteer_id": {"$in": volunteer_ids}, "used_at": None, "revoked_at": None}
    return uow.db.invitations.update_many(query, {"$set": {"revoked_at": at}}, session=uow.session).modified_count


def insert_invitations(uow, docs: list[dict]) -> None:
    if docs:
        uow.db.invitations.insert_many(docs, ordered=False, session=uow.session)


def find_invitation(db, key: str) -> dict | None:
    return db.invitations.find_one({"_id": key})


def use_invitation(uow, key: str, at) -> dict | None:
    """Mark an invitation used, once: the invitation as it was, or None when it was used, sent
    again or expired meanwhile."""
    query = {"_id": key, "used_at": None, "revoked_at": None, "expires_at": {"$gt": at}}
    return find_and_update(uow.db.invitations, query, {"$set": {"used_at": at}}, session=uow.session)


def palace_invitations(db, palace_id: str) -> dict[str, dict]:
    """The newest invitation of each volunteer of a palace."""
    latest: dict[str, dict] = {}
    for doc in db.invitations.find({"palace_id": palace_id}).sort("created_at", ASCENDING):
        latest[doc["volunteer_id"]] = doc
    return latest


def palace_volunteer_accounts(db, palace_id: str) -> dict[str, dict]:
    """The volunteers' accounts of a palace, by volunteer id."""
    found = db.users.find({"role": "volunteer", "palace_id": palace_id}, limit=ACCOUNTS_READ * 4)
    return {d["volunteer_id"]: d for d in found if d.get("volunteer_id")}


def accounts(db, palace_id: str | None) -> list[dict]:
    """A palace's accounts (every palace's, for an admin asking for none), by username."""
    query = {"palace_id": palace_id} if palace_id else {}
    return list(db.users.find(query).sort("_id", ASCENDING).limit(ACCOUNTS_READ))


def latest_notice(db) -> dict | None:
    return next(iter(db.notices.find().sort("_id", -1).limit(1)), None)


def insert_notice(uow, doc: dict) -> bool:
    """False when another admin published the same version first."""
    try:
        uow.db.notices.insert_one(doc, session=uow.session)
        return True
    except DuplicateKeyError:
        return False


def record_consent(db, username: str, change: dict) -> bool:
    done = db.users.update_one({"_id": username}, {"$set": change["set"], "$push": {"consents": change["push"]}})
    return done.matched_count == 1


def personal_data(db, username: str, volunteer_id: str | None) -> dict:
    """What accounts holds about a person: the account (and its registration), sessions, reset
    links and invitations, by when and by whom, never a hash (the keys of those are hashes)."""
    user = db.users.find_one({"_id": username})
    hidden = {"_id": 0}
    out = {
        "account": records([user] if user else []),
        "sessions": records(db.sessions.find({"principal.username": username}, hidden)),
        "password_resets": records(db.password_resets.find({"username": username}, hidden)),
    }
    if volunteer_id:
        out["invitations"] = records(db.invitations.find({"volunteer_id": volunteer_id}, hidden))
    return out


def ping(db) -> None:
    db.command("ping")


# ------------------------------------------------------------------ erasure


def ensure_erasure_indexes(db) -> None:
    db.erasures.create_index([("username", ASCENDING), ("status", ASCENDING)])
    db.erasures.create_index([("status", ASCENDING), ("due_at", ASCENDING)])
    db.erasures.create_index([("palace_id", ASCENDING), ("status", ASCENDING), ("due_at", ASCENDING)])


def pending_erasure(db, username: str, session=None) -> dict | None:
    return db.erasures.find_one({"username": username, "status": "pending"}, session=session)


def insert_erasure(uow, doc: dict) -> None:
    uow.db.erasures.insert_one(doc, session=uow.session)


def close_erasure(uow, erasure_id: str, change: dict) -> bool:
    """Set a pending erasure cancelled or done; False when it is no longer pending."""
    done = uow.db.erasures.update_one({"_id": erasure_id, "status": "pending"}, {"$set": change}, session=uow.session)
    return done.modified_count == 1


def due_erasures(db, at, limit: int = 20) -> list[dict]:
    return list(db.erasures.find({"status": "pending", "due_at": {"$lte": at}}).sort("due_at", ASCENDING).limit(limit))


def erasures(db, palace_id: str | None, status: str) -> list[dict]:
    query = {"status": status} | ({"palace_id": palace_id} if palace_id else {})
    return list(db.erasures.find(query).sort("due_at", ASCENDING).limit(500))


def forget_account(uow, user: dict) -> list[str]:
    """Delete an account and everything kept only for it: its sessions (their keys returned),
    reset links, sign-in locks and a volunteer's invitations."""
    username = user["_id"]
    keys = end_sessions(uow, username)
    uow.db.password_resets.delete_many({"username": username}, session=uow.session)
    uow.db.sign_in_throttles.delete_one({"_id": f"account:{username}"}, session=uow.session)
    if user.get("volunteer_id"):
        uow.db.invitations.delete_many({"volunteer_id": user["volunteer_id"]}, session=uow.session)
    uow.db.users.delete_one({"_id": username}, session=uow.session)
    return keys
