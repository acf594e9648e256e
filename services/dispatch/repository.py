"""The dispatch database: the only file that knows its collections and indexes."""

from __future__ import annotations

from pymongo import ASCENDING, DESCENDING

from common.errors import NotFound
from services.dispatch import domain

KINDS = {
    "palaces": ("palace_id", "找不到这个文化宫。", "PALACE_NOT_FOUND"),
    "programs": ("program_id", "找不到这个节目。", "PROGRAM_NOT_FOUND"),
    "troupes": ("troupe_id", "找不到这个艺术团。", "TROUPE_NOT_FOUND"),
    "volunteers": ("volunteer_id", "找不到这位志愿者。", "VOLUNTEER_NOT_FOUND"),
    "plans": ("order_id", "这个订单还没有派单安排。", "PLAN_NOT_FOUND"),
    "offers": ("offer_id", "找不到这个邀约。", "OFFER_NOT_FOUND"),
}


def ensure_indexes(db) -> None:
    db.programs.create_index([("palace_id", ASCENDING), ("title", ASCENDING)])
    db.troupes.create_index([("palace_id", ASCENDING), ("name", ASCENDING)])
    db.troupes.create_index([("palace_id", ASCENDING), ("repertoire", ASCENDING)])
    db.volunteers.create_index([("palace_id", ASCENDING), ("name", ASCENDING)])
    db.volunteers.create_index([("palace_id", ASCENDING), ("skills", ASCENDING)])
    db.plans.create_index([("palace_id", ASCENDING), ("status", ASCENDING)])
    db.offers.create_index([("volunteer_id", ASCENDING), ("created_at", DESCENDING)])
    db.offers.create_index([("volunteer_id", ASCENDING), ("status", ASCENDING), ("created_at", DESCENDING)])
    db.offers.create_index([("order_id", ASCENDING), ("created_at", ASCENDING)])
    db.offers.create_index([("status", ASCENDING), ("deadline", ASCENDING)])
    db.offers.create_index([("palace_id", ASCENDING), ("status", ASCENDING), ("deadline", ASCENDING)])
    # no double booking: _id is "<volunteer>:<bucket>", unique by nature; these serve the queries
    db.bookings.create_index([("volunteer_id", ASCENDING), ("bucket", ASCENDING)], unique=True)
    db.bookings.create_index([("offer_id", ASCENDING)])


def _out(kind: str, doc: dict | None) -> dict | None:
    if doc is None:
        return None
    doc = dict(doc)
    doc[KINDS[kind][0]] = doc.pop("_id")
    return doc


def get(db, kind: str, key: str, session=None) -> dict:
    doc = db[kind].find_one({"_id": key}, session=session) if isinstance(key, str) else None
    if doc is None:
        _, message, code = KINDS[kind]
        raise NotFound(message, code)
    return _out(kind, doc)


def find(db, kind: str, key: str, session=None) -> dict | None:
    return _out(kind, db[kind].find_one({"_id": key}, session=session))


def upsert(db, kind: str, data: dict) -> None:
    doc = dict(data)
    doc["_id"] = doc.pop(KINDS[kind][0])
    db[kind].replace_one({"_id": doc["_id"]}, doc, upsert=True)


def listing(db, kind: str, palace_id: str | None, sort: str) -> list[dict]:
    query = {"palace_id": palace_id} if palace_id else {}
    return [_out(kind, d) for d in db[kind].find(query).sort([("palace_id", ASCENDING), (sort, ASCENDING)]).limit(5000)]


def troupes_for(uow, palace_id: str, program_id: str) -> list[dict]:
    cursor = uow.db.troupes.find({"palace_id": palace_id, "repertoire": program_id}, session=uow.session)
    return [_out("troupes", d) for d in cursor]


def volunteers_with(uow, palace_id: str, skills: list[str]) -> list[dict]:
    cursor = uow.db.volunteers.find({"palace_id": palace_id, "skills": {"$in": skills}}, session=uow.session)
    return [_out("volunteers", d) for d in cursor]


def busy_checker(uow, volunteer_ids: list[str], windows: list[dict]):
    """is_busy(volunteer, start, end) over the bookings in the order's windows (one query)."""
    if not volunteer_ids or not windows:
        return lambda vid, start, end: False
    low = domain.buckets(min(w["start"] for w in windows), max(w["end"] for w in windows))
    held = {
        (d["volunteer_id"], d["bucket"])
        for d in uow.db.bookings.find(
            {"volunteer_id": {"$in": volunteer_ids}, "bucket": {"$gte": low.start, "$lt": low.stop}},
            {"volunteer_id": 1, "bucket": 1},
            session=uow.session,
        )
    }
    return lambda vid, start, end: any((vid, b) in held for b in domain.buckets(start, end))


def is_busy(uow, volunteer_id: str, start, end) -> bool:
    span = domain.buckets(start, end)
    return (
        uow.db.bookings.find_one(
            {"volunteer_id": volunteer_id, "bucket": {"$gte": span.start, "$lt": span.stop}},
            {"_id": 1},
            session=uow.session,
        )
        is not None
    )


def book(uow, offer: dict) -> None:
    """Hold the volunteer's time; a DuplicateKeyError means somebody else holds part of it."""
    uow.db.bookings.insert_many(
        [
            {
                "_id": f"{offer['volunteer_id']}:{b}",
                "volunteer_id": offer["volunteer_id"],
                "bucket": b,
                "offer_id": offer["offer_id"],
                "order_id": offer["order_id"],
            }
            for b in domain.buckets(offer["start"], offer["end"])
        ],
        session=uow.session,
    )


def release(uow, offer_id: str) -> None:
    uow.db.bookings.delete_many({"offer_id": offer_id}, session=uow.session)


def insert_offer(uow, offer: dict) -> None:
    doc = dict(offer)
    doc["_id"] = doc.pop("offer_id")
    uow.db.offers.insert_one(doc, session=uow.session)


def save_offer(uow, offer: dict) -> None:
    doc = dict(offer)
    doc["_id"] = doc.pop("offer_id")
    uow.db.offers.replace_one({"_id": doc["_id"]}, doc, session=uow.session)


def offers_of_order(db, order_id: str, session=None) -> list[dict]:
    return [
        _out("offers", d) for d in db.offers.find({"order_id": order_id}, session=session).sort("created_at", ASCENDING)
    ]


def offers_of_volunteer(db, volunteer_id: str, status: str | None) -> list[dict]:
    query = {"volunteer_id": volunteer_id, **({"status": status} if status else {})}
    return [_out("offers", d) for d in db.offers.find(query).sort("created_at", DESCENDING).limit(500)]


def pending_offers(db, palace_id: str) -> list[dict]:
    cursor = db.offers.find({"palace_id": palace_id, "status": "pending"}).sort("deadline", ASCENDING).limit(1000)
    return [_out("offers", d) for d in cursor]


def overdue_offer_ids(db, at, limit: int = 100) -> list[str]:
    return [d["_id"] for d in db.offers.find({"status": "pending", "deadline": {"$lt": at}}, {"_id": 1}).limit(limit)]


def save_plan(uow, plan: dict) -> None:
    doc = dict(plan)
    doc["_id"] = doc.pop("order_id")
    uow.db.plans.replace_one({"_id": doc["_id"]}, doc, upsert=True, session=uow.session)
