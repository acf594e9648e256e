"""The notifications database (the only file that knows its collections and indexes).

notifications  one row per person and notification: the inbox
deliveries     one row per notification and external channel: status, attempts, last error (a
               volunteer's invitation to claim an account has no notification: ``invited`` says whose)
reminders      what is due to be said later (48 h / 2 h before a delivery, an offer about to expire)
orders, offers what the events told of orders and offers, to word notifications and find the crew
preferences    per person: email, webhook opt-in, muted kinds
"""

from __future__ import annotations

import datetime as dt

from pymongo import ASCENDING, DESCENDING

from common import retention
from common.personal import records
from common.store import find_and_update

KEEP_REMINDERS = dt.timedelta(days=30)


def ensure_indexes(db) -> None:
    # every query path has an ascending index (the embedded server answers ranges on an index
    # ending in a descending key wrongly)
    db.notifications.create_index([("key", ASCENDING)], unique=True)
    db.notifications.create_index([("username", ASCENDING), ("_id", ASCENDING)])
    db.notifications.create_index([("username", ASCENDING), ("read", ASCENDING)])
    retention.plain_index(db.notifications, "created_at")  # swept by RETAIN_NOTIFICATIONS_DAYS
    db.deliveries.create_index([("status", ASCENDING), ("next_at", ASCENDING)])
    db.deliveries.create_index([("notification_id", ASCENDING)])
    db.deliveries.create_index([("invited", ASCENDING)])
    retention.plain_index(db.deliveries, "created_at")  # swept by RETAIN_DELIVERIES_DAYS
    db.reminders.create_index([("status", ASCENDING), ("due", ASCENDING)])
    db.reminders.create_index([("order_id", ASCENDING)])
    db.reminders.create_index([("start", ASCENDING)], expireAfterSeconds=int(KEEP_REMINDERS.total_seconds()))
    db.offers.create_index([("order_id", ASCENDING)])


def sweep_retention(db, before: dict, at) -> dict[str, int]:
    """Delete inbox notifications and delivery records older than their kinds' cutoffs
    (``common.retention``; a cutoff of None keeps them); how many went per kind."""
    return {
        "notifications": retention.delete_older(db.notifications, "created_at", before.get("notifications")),
        "deliveries": retention.delete_older(db.deliveries, "created_at", before.get("deliveries")),
    }


def retention_oldest(db) -> dict:
    return {
        "notifications": retention.oldest(db.notifications, "created_at"),
        "deliveries": retention.oldest(db.deliveries, "created_at"),
        "reminders": retention.oldest(db.reminders, "start"),
    }


# ------------------------------------------------------------------ what the events told


def order(db, order_id: str | None, session=None) -> dict | None:
    return db.orders.find_one({"_id": order_id}, session=session) if order_id else None


def remember_order(db, order_id: str, fields: dict, session=None) -> dict:
    fields = {k: v for k, v in fields.items() if v is not None}
    return find_and_update(db.orders, {"_id": order_id}, {"$set": fields}, upsert=True, after=True, session=session)


def offer(db, offer_id: str | None, session=None) -> dict | None:
    return db.offers.find_one({"_id": offer_id}, session=session) if offer_id else None


def remember_offer(db, offer_id: str, fields: dict, session=None) -> None:
    db.offers.update_one({"_id": offer_id}, {"$set": fields}, upsert=True, session=session)


def offers_of(db, order_id: str, session=None) -> list[dict]:
    return list(db.offers.find({"order_id": order_id}, session=session))


# ------------------------------------------------------------------ reminders


def schedule(db, key: str, doc: dict, session=None) -> None:
    """Due at ``doc['due']``. The same reminder for the same start, pending or already sent, stays
    as it is; a new start moves it (and it is said again)."""
    doc = {k: _ms(v) for k, v in doc.items()}
    existing = db.reminders.find_one({"_id": key}, session=session)
    if existing is None:  # most are new: an insert costs the embedded database about half an upsert
        db.reminders.insert_one({"_id": key, **doc, "status": "pending"}, session=session)
        return
    if existing["status"] in ("pending", "sent") and existing.get("start") == doc.get("start"):
        return
    db.reminders.replace_one({"_id": key}, {**doc, "status": "pending"}, session=session)


def _ms(value):
    """Times as the database keeps them (milliseconds), so that a start read back compares equal."""
    if isinstance(value, dt.datetime):
        return value.replace(microsecond=value.microsecond // 1000 * 1000)
    return value


def cancel_reminders(db, keys: list[str], session=None) -> int:
    if not keys:
        return 0
    return db.reminders.update_many(
        {"_id": {"$in": keys}, "status": "pending"}, {"$set": {"status": "cancelled"}}, session=session
    ).modified_count


def pending_reminders(db, order_id: str, session=None) -> list[dict]:
    return [r for r in db.reminders.find({"order_id": order_id}, session=session) if r["status"] == "pending"]


def reminder_due(db, now: dt.datetime) -> bool:
    """Whether any reminder is due (a read: most ticks find none, and a claim is a write)."""
    return db.reminders.find_one({"status": "pending", "due": {"$lte": now}}, {"_id": 1}) is not None


def claim_due_reminder(db, now: dt.datetime, session=None) -> dict | None:
    """One reminder due by ``now``, marked sent inside the caller's transaction: if the
    transaction fails it is due again, and two processes never both take it."""
    return find_and_update(
        db.reminders,
        {"status": "pending", "due": {"$lte": now}},
        {"$set": {"status": "sent", "sent_at": now}},
        session=session,
    )


def mark_reminder(db, key: str, status: str, session=None) -> None:
    db.reminders.update_one({"_id": key}, {"$set": {"status": status}}, session=session)


# ------------------------------------------------------------------ the inbox


def add_notification(db, doc: dict, session=None) -> None:
    """Insert a notification. Its key (cause, draft, person) is unique: the callers' once-only
    guards (the consumer's inbox, a reminder's claim) keep a cause from being notified twice,
    and the unique index backs them; an insert costs the embedded database about half an
    upsert."""
    db.notifications.insert_one(doc, session=session)


def add_deliveries(db, docs: list[dict], session=None) -> None:
    if docs:
        db.deliveries.insert_many(docs, session=session)


def inbox(db, username: str, before: str | None, limit: int, lower_ids: list[str | None]) -> list[dict]:
    """The newest notifications of a person, below ``before``: asked over widening windows of
    ids (which begin with their time), so a sorted read never sorts a whole history."""
    for lower in lower_ids:
        id_range: dict = {}
        if before:
            id_range["$lt"] = before
        if lower:
            id_range["$gte"] = lower
        query: dict = {"username": username}
        if id_range:
            query["_id"] = id_range
        found = list(db.notifications.find(query).sort("_id", DESCENDING).limit(limit))
        if len(found) >= limit or lower is None:
            return found
    return []


def unread(db, username: str, cap: int) -> int:
    """How many are unread, counted up to ``cap`` (the bell shows "99+" long before)."""
    return db.notifications.count_documents({"username": username, "read": False}, limit=cap)


def mark_read(db, username: str, notification_id: str, now: dt.datetime) -> dict | None:
    doc = db.notifications.find_one({"_id": notification_id})
    if doc is None or doc["username"] != username:
        return None
    if not doc["read"]:
        doc = find_and_update(
            db.notifications,
            {"_id": notification_id, "username": username},
            {"$set": {"read": True, "read_at": now}},
            after=True,
        )
    return doc


def mark_all_read(db, username: str, now: dt.datetime) -> int:
    return db.notifications.update_many(
        {"username": username, "read": False}, {"$set": {"read": True, "read_at": now}}
    ).modified_count


# ------------------------------------------------------------------ deliveries


def delivery_due(db, now: dt.datetime) -> bool:
    """Whether any delivery is due (a read: most ticks find none, and a claim is a write)."""
    return db.deliveries.find_one({"status": "pending", "next_at": {"$lte": now}}, {"_id": 1}) is not None


def claim_delivery(db, now: dt.datetime, lease: dt.timedelta, holder: str) -> dict | None:
    """Take one delivery that is due: its next try is moved a lease ahead, so a process that dies
    while sending leaves it to be tried again once the lease runs out, and no two take it."""
    return find_and_update(
        db.deliveries,
        {"status": "pending", "next_at": {"$lte": now}},
        {"$set": {"next_at": now + lease, "holder": holder}, "$inc": {"attempts": 1}},
        after=True,
    )


def delivery_done(db, doc: dict, now: dt.datetime) -> None:
    db.deliveries.update_one(
        {"_id": doc["_id"], "holder": doc["holder"]}, {"$set": {"status": "sent", "sent_at": now, "last_error": None}}
    )


def delivery_failed(db, doc: dict, error: str, next_at: dt.datetime | None) -> None:
    """Try again at ``next_at``, or give up (None) keeping the reason."""
    change = {"last_error": error[:500]}
    change.update({"next_at": next_at} if next_at else {"status": "failed"})
    db.deliveries.update_one({"_id": doc["_id"], "holder": doc["holder"]}, {"$set": change})


def replace_invitations(db, volunteer_ids: list[str], session=None) -> int:
    """Invitations to these volunteers still waiting to be sent are not sent (a new one replaces them)."""
    if not volunteer_ids:
        return 0
    query = {"invited": {"$in": volunteer_ids}, "status": "pending"}
    return db.deliveries.update_many(query, {"$set": {"status": "replaced"}}, session=session).modified_count


def deliveries_of(db, notification_id: str) -> list[dict]:
    return list(db.deliveries.find({"notification_id": notification_id}))


def count_deliveries(db, status: str) -> int:
    return db.deliveries.count_documents({"status": status})


def count_reminders(db, status: str) -> int:
    return db.reminders.count_documents({"status": status})


# ------------------------------------------------------------------ preferences


def preferences(db, usernames: list[str], session=None) -> dict[str, dict]:
    if not usernames:
        return {}
    return {d["_id"]: d for d in db.preferences.find({"_id": {"$in": usernames}}, session=session)}


def first_preferences(db, username: str, doc: dict, session=None) -> None:
    """Where a new account is reached, from its registration; what the person set stays."""
    db.preferences.update_one({"_id": username}, {"$setOnInsert": doc}, upsert=True, session=session)


def save_preferences(db, username: str, doc: dict) -> dict:
    return find_and_update(db.preferences, {"_id": username}, {"$set": doc}, upsert=True, after=True)


def personal_data(db, username: str) -> dict:
    """What notifications holds about a person: their notices, what was sent where (e-mail,
    phone, webhook deliveries) and which kinds they keep quiet."""
    notices = records(db.notifications.find({"username": username}))
    ids = [n["_id"] for n in notices]
    sent = []
    for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
        sent += records(db.deliveries.find({"notification_id": {"$in": chunk}}))
    return {
        "notifications": notices,
        "deliveries": sent,
        "preferences": records(db.preferences.find({"_id": username})),
    }


# ------------------------------------------------------------------ erasure


def forget_person(event: dict, uow) -> None:
    """An erased person's own inbox, what was sent to them (with their addresses) and their
    settings go; what others were told about them is anonymised by the erasure job."""
    db, session, username = uow.db, uow.session, event["username"]
    ids = [d["_id"] for d in db.notifications.find({"username": username}, {"_id": 1}, session=session)]
    for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
        db.deliveries.delete_many({"notification_id": {"$in": chunk}}, session=session)
    db.notifications.delete_many({"username": username}, session=session)
    db.preferences.delete_one({"_id": username}, session=session)
