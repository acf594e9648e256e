"""The orders database: the only file that knows its collections and indexes."""

from __future__ import annotations

from pymongo import ASCENDING, DESCENDING, UpdateOne

from common.errors import NotFound
from common.personal import records
from common.store import find_in


def ensure_indexes(db) -> None:
    orders = db.orders
    orders.create_index([("enterprise_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)])
    orders.create_index(
        [("enterprise_id", ASCENDING), ("status", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)]
    )
    orders.create_index([("palace_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)])
    orders.create_index(
        [("palace_id", ASCENDING), ("status", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)]
    )
    orders.create_index([("status", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)])
    orders.create_index([("created_at", DESCENDING), ("_id", DESCENDING)])
    orders.create_index(
        [("enterprise_id", ASCENDING), ("client_ref", ASCENDING)],
        unique=True,
        partialFilterExpression={"client_ref": {"$type": "string"}},
    )
    db.enterprises.create_index([("palace_id", ASCENDING), ("name", ASCENDING)])


def _to_doc(order: dict) -> dict:
    doc = dict(order)
    doc["_id"] = doc.pop("order_id")
    return doc


def _from_doc(doc: dict) -> dict:
    order = dict(doc)
    order["order_id"] = order.pop("_id")
    return order


def insert(uow, order: dict) -> None:
    uow.db.orders.insert_one(_to_doc(order), session=uow.session)


def save(uow, order: dict) -> None:
    uow.db.orders.replace_one({"_id": order["order_id"]}, _to_doc(order), session=uow.session)


def get(db, order_id: str, session=None) -> dict:
    doc = db.orders.find_one({"_id": order_id}, session=session)
    if doc is None:
        raise NotFound("找不到这个订单。", "ORDER_NOT_FOUND")
    return _from_doc(doc)


def find(db, order_id: str, session=None) -> dict | None:
    doc = db.orders.find_one({"_id": order_id}, session=session)
    return _from_doc(doc) if doc else None


def find_by_client_ref(db, enterprise_id: str, client_ref: str, session=None) -> dict | None:
    doc = db.orders.find_one({"enterprise_id": enterprise_id, "client_ref": client_ref}, session=session)
    return _from_doc(doc) if doc else None


def page(db, filters: dict, page: int, per_page: int) -> tuple[list[dict], int]:
    query = {k: filters[k] for k in ("enterprise_id", "palace_id", "status") if filters.get(k)}
    total = db.orders.count_documents(query)
    cursor = (
        db.orders.find(query)
        .sort([("created_at", DESCENDING), ("_id", DESCENDING)])
        .skip((page - 1) * per_page)
        .limit(per_page)
    )
    return [_from_doc(d) for d in cursor], total


def count_by_status(db, palace_id: str, statuses) -> dict[str, int]:
    return {s: db.orders.count_documents({"palace_id": palace_id, "status": s}) for s in statuses}


def upsert_enterprise(db, enterprise: dict) -> None:
    doc = {**enterprise, "_id": enterprise["enterprise_id"]}
    doc.pop("enterprise_id")
    db.enterprises.replace_one({"_id": doc["_id"]}, doc, upsert=True)


def get_enterprise(db, enterprise_id: str, session=None) -> dict:
    doc = db.enterprises.find_one({"_id": enterprise_id}, session=session)
    if doc is None:
        raise NotFound("找不到这个企业工会。", "ENTERPRISE_NOT_FOUND")
    doc["enterprise_id"] = doc.pop("_id")
    return doc


def list_enterprises(db, palace_id: str | None = None, limit: int = 1000) -> list[dict]:
    query = {"palace_id": palace_id} if palace_id else {}
    out = []
    for doc in db.enterprises.find(query).sort([("palace_id", ASCENDING), ("name", ASCENDING)]).limit(limit):
        doc["enterprise_id"] = doc.pop("_id")
        out.append(doc)
    return out


def enterprise_palaces(db, enterprise_ids: list[str]) -> dict[str, str]:
    """The palace of each of these enterprise unions that exists."""
    docs = find_in(db.enterprises, "_id", sorted(set(enterprise_ids)), projection={"palace_id": 1})
    return {d["_id"]: d.get("palace_id") for d in docs}


def upsert_enterprises(db, enterprises: list[dict]) -> None:
    """Many unions in one statement; what a record does not name stays as stored."""
    writes = [
        UpdateOne(
            {"_id": e["enterprise_id"]}, {"$set": {k: v for k, v in e.items() if k != "enterprise_id"}}, upsert=True
        )
        for e in enterprises
    ]
    if writes:
        db.enterprises.bulk_write(writes, ordered=False)


def personal_data(db, enterprise_id: str | None) -> dict:
    """For an enterprise union's account: the union's record and its orders (with the contact
    people and phones it gave)."""
    if not enterprise_id:
        return {}
    return {
        "enterprise": records(db.enterprises.find({"_id": enterprise_id})),
        "orders": records(db.orders.find({"enterprise_id": enterprise_id})),
    }
