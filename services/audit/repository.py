"""The audit database: entries, written once and never changed (the only file that knows it)."""

from __future__ import annotations

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import BulkWriteError, DuplicateKeyError

from common.personal import records


def ensure_indexes(db) -> None:
    # newest first within a palace, a person or a kind, and over everything (an admin); the
    # indexes end ascending (the embedded server answers ranges on a descending last key wrongly)
    db.entries.create_index([("palace_ids", ASCENDING), ("at", ASCENDING)])
    db.entries.create_index([("palace_ids", ASCENDING), ("actor.username", ASCENDING), ("at", ASCENDING)])
    db.entries.create_index([("palace_ids", ASCENDING), ("kind", ASCENDING), ("at", ASCENDING)])
    db.entries.create_index([("actor.username", ASCENDING), ("at", ASCENDING)])
    db.entries.create_index([("kind", ASCENDING), ("at", ASCENDING)])
    db.entries.create_index([("subject.id", ASCENDING), ("at", ASCENDING)])
    db.entries.create_index([("at", ASCENDING)])


def add(db, entries: list[dict], session=None) -> int:
    """Insert entries that are not there yet; one already there stays as it was. Returns how
    many were new."""
    if not entries:
        return 0
    try:
        return len(db.entries.insert_many(entries, ordered=False, session=session).inserted_ids)
    except BulkWriteError as err:
        if any(e.get("code") != 11000 for e in err.details.get("writeErrors", ())):
            raise
        return err.details.get("nInserted", 0)


def add_one(db, entry: dict) -> bool:
    try:
        db.entries.insert_one(entry)
        return True
    except DuplicateKeyError:
        return False


def query(filters: dict) -> dict:
    q: dict = {}
    if filters.get("palace_id"):
        q["palace_ids"] = filters["palace_id"]
    if filters.get("username"):
        q["actor.username"] = filters["username"]
    if filters.get("kinds"):
        q["kind"] = {"$in": list(filters["kinds"])}
    if filters.get("subject_id"):
        q["subject.id"] = filters["subject_id"]
    at = {}
    if filters.get("since"):
        at["$gte"] = filters["since"]
    if filters.get("until"):
        at["$lt"] = filters["until"]
    if filters.get("before"):
        at["$lte"] = filters["before"][0]
    if at:
        q["at"] = at
    return q


def entries(db, filters: dict, limit: int) -> list[dict]:
    """Newest first; ``before`` (time, id) continues a page after its last entry."""
    q = query(filters)
    found = []
    cursor = db.entries.find(q).sort([("at", DESCENDING), ("_id", DESCENDING)])
    before = filters.get("before")
    for doc in cursor:
        if before and doc["at"] == before[0] and doc["_id"] >= before[1]:
            continue
        found.append(doc)
        if len(found) >= limit:
            break
    cursor.close()
    return found


def count(db, filters: dict) -> int:
    return db.entries.count_documents(query(filters))


def personal_data(db, username: str, volunteer_id: str | None) -> dict:
    """The audit log's entries of what a person did, and of what others did about them."""
    about = records(db.entries.find({"subject.id": volunteer_id})) if volunteer_id else []
    return {"by_me": records(db.entries.find({"actor.username": username})), "about_me": about}
