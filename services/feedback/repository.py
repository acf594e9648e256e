"""The feedback database: surveys and responses, and their indexes."""

from __future__ import annotations

from pymongo import ASCENDING, ReturnDocument

from common.errors import NotFound


def ensure_indexes(db) -> None:
    db.surveys.create_index([("order_id", ASCENDING)], unique=True)
    db.surveys.create_index([("token", ASCENDING)], unique=True)
    db.surveys.create_index([("status", ASCENDING), ("closes_at", ASCENDING)])
    db.responses.create_index([("survey_id", ASCENDING), ("at", ASCENDING)])
    db.responses.create_index(
        [("survey_id", ASCENDING), ("client_ref", ASCENDING)],
        unique=True,
        partialFilterExpression={"client_ref": {"$type": "string"}},
    )


def _survey(doc: dict | None) -> dict | None:
    if doc is None:
        return None
    doc = dict(doc)
    doc["survey_id"] = doc.pop("_id")
    return doc


def insert_survey(uow, survey: dict) -> None:
    doc = dict(survey)
    doc["_id"] = doc.pop("survey_id")
    uow.db.surveys.insert_one(doc, session=uow.session)


def find_by_order(db, order_id: str, session=None) -> dict | None:
    return _survey(db.surveys.find_one({"order_id": order_id}, session=session))


def get_by_order(db, order_id: str) -> dict:
    survey = find_by_order(db, order_id)
    if survey is None:
        raise NotFound("这次服务的评议还没有开放。", "SURVEY_NOT_FOUND")
    return survey


def get_by_token(db, token: str, session=None) -> dict:
    survey = _survey(db.surveys.find_one({"token": token}, session=session)) if isinstance(token, str) else None
    if survey is None:
        raise NotFound("找不到这份评议，请检查二维码或链接。", "SURVEY_NOT_FOUND")
    return survey


def get(db, survey_id: str, session=None) -> dict:
    survey = _survey(db.surveys.find_one({"_id": survey_id}, session=session))
    if survey is None:
        raise NotFound("找不到这份评议。", "SURVEY_NOT_FOUND")
    return survey


def find_response(uow, survey_id: str, client_ref: str) -> dict | None:
    return uow.db.responses.find_one({"survey_id": survey_id, "client_ref": client_ref}, session=uow.session)


def add_response(uow, survey_id: str, response: dict, inc: dict) -> None:
    uow.db.responses.insert_one(response, session=uow.session)
    uow.db.surveys.update_one({"_id": survey_id}, {"$inc": inc}, session=uow.session)


def mark_closed(uow, survey_id: str, at, summary: dict) -> dict | None:
    """Close an open survey; None when another worker closed it first."""
    return _survey(
        uow.db.surveys.find_one_and_update(
            {"_id": survey_id, "status": "open"},
            {"$set": {"status": "closed", "closed_at": at, "summary": summary}},
            session=uow.session,
            return_document=ReturnDocument.AFTER,
        )
    )


def due(db, at, limit: int = 100) -> list[str]:
    return [d["_id"] for d in db.surveys.find({"status": "open", "closes_at": {"$lte": at}}, {"_id": 1}).limit(limit)]
