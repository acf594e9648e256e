"""The reporting database: the event archive and the projections (the only file that knows them)."""

from __future__ import annotations

import datetime as dt

from pymongo import ASCENDING, DESCENDING, ReplaceOne, UpdateOne

from common import retention
from common.personal import records
from common.store import find_in, in_chunks
from services.reporting.domain import Ops

PROJECTIONS = ("facts", "volunteer_months", "reach", "comments", "orders")


def people(payload: dict) -> list[str]:
    """The volunteers an event names (kept beside it in the archive, so that a person's copy of
    their data finds their events by one index)."""
    found = {payload.get(k) for k in ("volunteer_id", "from_volunteer_id", "to_volunteer_id")}
    for key in ("volunteers", "crew"):
        found |= {v.get("volunteer_id") for v in payload.get(key) or () if isinstance(v, dict)}
    return sorted(v for v in found if isinstance(v, str) and v)


def ensure_indexes(db) -> None:
    # what is archived and not yet counted: one small document per event, deleted once counted
    # (for the embedded database a delete costs about a third of rewriting the archived event
    # with a flag, and the archive itself then needs no index but its key)
    db.pending.create_index([("occurred_at", ASCENDING), ("_id", ASCENDING)])
    db.facts.create_index([("palace", ASCENDING), ("dim", ASCENDING), ("month", ASCENDING)])
    # (an index ending in a descending key answers month ranges wrongly on the embedded server)
    db.volunteer_months.create_index([("palace", ASCENDING), ("month", ASCENDING)])
    db.volunteer_months.create_index([("volunteer_id", ASCENDING), ("month", ASCENDING)])
    db.reach.create_index([("palace", ASCENDING), ("kind", ASCENDING), ("last_served", ASCENDING)])
    db.comments.create_index([("palace_id", ASCENDING), ("at", DESCENDING)])
    db.comments.create_index([("at", DESCENDING)])
    if "people_1" not in db.events.index_information():
        _name_people(db)
        db.events.create_index([("people", ASCENDING)], sparse=True)
    _from_flags(db)
    # the retention sweep's paths: comments by age; archived events not redacted yet, oldest first
    db.comments.create_index([("at", ASCENDING)])
    db.events.create_index([("redacted_at", ASCENDING), ("occurred_at", ASCENDING)])


def sweep_retention(db, before: dict, at) -> dict[str, int]:
    """Delete comments older than their cutoff; clear the personal fields (and a comment's words)
    of archived events older than the archive's, in place (``common.retention.redact_event``):
    no statistic reads them, so a rebuild counts the same. How many went per kind."""
    return {
        "report_comments": retention.delete_older(db.comments, "at", before.get("report_comments")),
        "archive": retention.rewrite_older(
            db.events, "occurred_at", before.get("archive"), "redacted_at", lambda d: retention.redact_event(d, at), at
        ),
    }


def retention_oldest(db) -> dict:
    return {
        "report_comments": retention.oldest(db.comments, "at"),
        "archive": retention.oldest(db.events, "occurred_at", {"redacted_at": None}),
    }


def _name_people(db) -> None:
    """Archives of earlier versions: each event that names volunteers says so beside it (once,
    before the index is made)."""
    ops = []
    for doc in db.events.find({}, {"payload": 1}):
        named = people(doc.get("payload") or {})
        if named:
            ops.append(UpdateOne({"_id": doc["_id"]}, {"$set": {"people": named}}))
        if len(ops) >= 1000:
            db.events.bulk_write(ops, ordered=False)
            ops = []
    if ops:
        db.events.bulk_write(ops, ordered=False)


def _from_flags(db) -> None:
    """Earlier versions flagged archived events ``projected``: those still to be counted become
    pending, and the flag's indexes go."""
    indexes = db.events.index_information()
    flagged = "projected_1_occurred_at_1__id_1"
    if flagged in indexes:
        waiting = db.events.find({"projected": False}, {"occurred_at": 1})
        for chunk in in_chunks(waiting, 1000):
            db.pending.bulk_write(
                [
                    UpdateOne({"_id": d["_id"]}, {"$setOnInsert": {"occurred_at": d["occurred_at"]}}, upsert=True)
                    for d in chunk
                ],
                ordered=False,
            )
        db.events.drop_index(flagged)
    if "occurred_at_1__id_1" in indexes:
        db.events.drop_index("occurred_at_1__id_1")


def _pending(docs) -> list[dict]:
    return [{"_id": d["_id"], "occurred_at": d["occurred_at"]} for d in docs]


def archive_many(db, events: list[tuple[str, str, dict, dt.datetime]], session=None) -> int:
    """Keep many events at once (source, type, payload, occurred_at); those already kept stay
    as they were. Returns how many were new. (One read of which are kept and one insert of the
    rest: for the embedded database an upsert per event cost about ten inserts.)"""
    fresh = {
        payload["event_id"]: (source, event_type, payload, occurred_at)
        for source, event_type, payload, occurred_at in events
    }
    for doc in find_in(db.events, "_id", list(fresh), projection={"_id": 1}, session=session):
        fresh.pop(doc["_id"], None)
    docs = [
        {"_id": event_id, "source": source, "type": event_type, "occurred_at": occurred_at, "payload": payload}
        | ({"people": named} if (named := people(payload)) else {})
        for event_id, (source, event_type, payload, occurred_at) in fresh.items()
    ]
    if docs:
        db.events.insert_many(docs, ordered=True, session=session)
        db.pending.insert_many(_pending(docs), ordered=True, session=session)
    return len(docs)


def unprojected(db, limit: int, session=None) -> list[dict]:
    """Archived events the projections do not hold yet, oldest first."""
    ids = [
        d["_id"]
        for d in db.pending.find({}, {"_id": 1}, session=session)
        .sort([("occurred_at", ASCENDING), ("_id", ASCENDING)])
        .limit(limit)
    ]
    found = {d["_id"]: d for d in find_in(db.events, "_id", ids, session=session)}
    return [found[i] for i in ids if i in found]


def claim(db, event_ids: list[str], session=None) -> int:
    """Take events off the pending list (in the transaction that counts them)."""
    return sum(
        db.pending.delete_many({"_id": {"$in": ids}}, session=session).deleted_count for ids in in_chunks(event_ids)
    )


def still_unprojected(db, event_ids: list[str], session=None) -> set[str]:
    return {d["_id"] for d in find_in(db.pending, "_id", event_ids, projection={"_id": 1}, session=session)}


def count_unprojected(db) -> int:
    return db.pending.count_documents({})


def mark_all_unprojected(db) -> int:
    """Every archived event pending again (a rebuild counts them all anew)."""
    db.pending.delete_many({})
    marked = 0
    for chunk in in_chunks(db.events.find({}, {"occurred_at": 1}), 1000):
        db.pending.insert_many(_pending(chunk), ordered=False)
        marked += len(chunk)
    return marked


def rebuild_lock(db, session=None) -> dict | None:
    return db.rebuild.find_one({"_id": "rebuild", "active": True}, session=session)


def take_rebuild_lock(db, by: str) -> bool:
    db.rebuild.update_one({"_id": "rebuild"}, {"$setOnInsert": {"active": False}}, upsert=True)
    taken = db.rebuild.update_one(
        {"_id": "rebuild", "active": False}, {"$set": {"active": True, "by": by, "at": dt.datetime.now(dt.UTC)}}
    )
    return taken.modified_count == 1


def release_rebuild_lock(db) -> None:
    db.rebuild.update_one({"_id": "rebuild"}, {"$set": {"active": False}})


def count_archived(db) -> int:
    return db.events.count_documents({})


def orders_of(db, order_ids: list[str], session=None) -> dict[str, dict]:
    return {d["_id"]: d for d in find_in(db.orders, "_id", order_ids, session=session)}


def apply(db, ops: Ops, session=None) -> int:
    """Write what ``ops`` holds: increments, latest service dates, comments, order facts."""
    writes = 0
    facts = []
    for (palace, month, dim, key), counters in ops.facts.items():
        update = {
            "$inc": counters,
            "$setOnInsert": {"palace": palace, "month": month, "dim": dim, "key": key},
        }
        label = ops.labels.get((palace, month, dim, key))
        if label:
            update["$set"] = {"label": label}
        facts.append(UpdateOne({"_id": f"{palace}|{month}|{dim}|{key}"}, update, upsert=True))
    if facts:
        db.facts.bulk_write(facts, ordered=False, session=session)
        writes += len(facts)
    volunteers = [
        UpdateOne(
            {"_id": f"{palace}|{month}|{vid}"},
            {"$inc": counters, "$setOnInsert": {"palace": palace, "month": month, "volunteer_id": vid}},
            upsert=True,
        )
        for (palace, month, vid), counters in ops.volunteers.items()
    ]
    if volunteers:
        db.volunteer_months.bulk_write(volunteers, ordered=False, session=session)
        writes += len(volunteers)
    reach = [
        UpdateOne(
            {"_id": f"{palace}|{kind}|{key}"},
            {
                "$max": {"last_served": at},
                "$inc": {"deliveries": ops.reach_count.get((palace, kind, key), 0)},
                "$setOnInsert": {"palace": palace, "kind": kind, "key": key},
            },
            upsert=True,
        )
        for (palace, kind, key), at in ops.reach.items()
    ]
    if reach:
        db.reach.bulk_write(reach, ordered=False, session=session)
        writes += len(reach)
    if ops.comments:
        db.comments.bulk_write(
            [ReplaceOne({"_id": c["_id"]}, c, upsert=True) for c in ops.comments], ordered=False, session=session
        )
        writes += len(ops.comments)
    if ops.orders:
        # merged, never replaced: what one event knows of an order does not erase what another told
        db.orders.bulk_write(
            [
                UpdateOne({"_id": oid}, {"$set": {k: v for k, v in o.items() if k != "_id"}}, upsert=True)
                for oid, o in ops.orders.items()
            ],
            ordered=False,
            session=session,
        )
        writes += len(ops.orders)
    return writes


def drop_projections(db) -> None:
    for name in PROJECTIONS:
        db[name].delete_many({})


# ------------------------------------------------------------------ questions


def facts(db, palace: str, dim: str, periods: list[str]) -> list[dict]:
    """Rows of one dimension for the given periods (month rows "2026-03" and year rows "2026")."""
    return list(db.facts.find({"palace": palace, "dim": dim, "month": {"$in": periods}}))


def volunteer_months(db, palace: str, periods: list[str]) -> list[dict]:
    return list(db.volunteer_months.find({"palace": palace, "month": {"$in": periods}}))


def volunteer_history(db, volunteer_id: str) -> list[dict]:
    """A volunteer's month rows (the year rows left out), oldest first."""
    rows = db.volunteer_months.find({"volunteer_id": volunteer_id}).sort("month", ASCENDING)
    return [r for r in rows if len(r["month"]) == 7]


def not_reached_since(db, palace: str, kind: str, cutoff: dt.datetime, limit: int = 200) -> list[dict]:
    return list(
        db.reach.find({"palace": palace, "kind": kind, "last_served": {"$lt": cutoff}})
        .sort("last_served", ASCENDING)
        .limit(limit)
    )


def comments(db, palace: str, limit: int, now: dt.datetime | None = None) -> list[dict]:
    """The latest comments. Asked over a widening window of recent days, so a sorted read never
    has to sort every comment ever kept (the embedded server sorts all matches before the limit)."""
    now = now or dt.datetime.now(dt.UTC)
    base = {} if palace == "*" else {"palace_id": palace}
    for days in (7, 30, 90, 365, None):
        query = dict(base)
        if days is not None:
            query["at"] = {"$gte": now - dt.timedelta(days=days)}
        found = list(db.comments.find(query).sort("at", DESCENDING).limit(limit))
        if len(found) >= limit or days is None:
            return found
    return []


def personal_data(db, volunteer_id: str | None) -> dict:
    """What reporting holds about a volunteer: the archived events that name them and their
    month rows (deliveries and hours)."""
    if not volunteer_id:
        return {}
    events = sorted(db.events.find({"people": volunteer_id}), key=lambda d: (d["occurred_at"], d["_id"]))
    return {
        "events": records(events),
        "volunteer_months": records(db.volunteer_months.find({"volunteer_id": volunteer_id})),
    }
