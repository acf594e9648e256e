"""The feedback database: surveys and responses, and their indexes."""

from __future__ import annotations

from pymongo import ASCENDING

from common import retention
from common.errors import NotFound
from common.store import find_and_update, find_in
from services.feedback import domain


def ensure_indexes(db) -> None:
    db.surveys.create_index([("order_id", ASCENDING)], unique=True)
    db.surveys.create_index([("token", ASCENDING)], unique=True)
    db.surveys.create_index([("status", ASCENDING), ("closes_at", ASCENDING)])
    db.surveys.create_index([("status", ASCENDING), ("closing_at", ASCENDING)])
    db.responses.create_index([("survey_id", ASCENDING), ("at", ASCENDING)])
    # A phone's answer is stored once by its id, which is derived from the survey and the phone's
    # client_ref (contracts.intake.response_id); earlier versions also kept a unique index on
    # the two, which cost each stored answer as much again as its insert.
    if "survey_id_1_client_ref_1" in db.responses.index_information():
        db.responses.drop_index("survey_id_1_client_ref_1")
    # the retention sweep's path: answers not looked at yet, oldest first
    db.responses.create_index([("swept_at", ASCENDING), ("at", ASCENDING)])


def sweep_retention(db, before: dict, at) -> dict[str, int]:
    """Clear the words of answers older than the comments' cutoff (their scores, wanted programs
    and the surveys' counts and summaries stay); each answer looked at is marked ``swept_at``.
    How many comments went."""

    def clear(doc):
        return {"$set": {"comment": None}}, bool((doc.get("comment") or "").strip())

    return {
        "survey_comments": retention.rewrite_older(
            db.responses, "at", before.get("survey_comments"), "swept_at", clear, at
        )
    }


def retention_oldest(db) -> dict:
    return {"survey_comments": retention.oldest(db.responses, "at", {"swept_at": None})}


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


def get_many_by_token(db, tokens: list[str]) -> list[dict]:
    """The surveys of these tokens (unknown tokens are left out)."""
    wanted = [t for t in tokens if isinstance(t, str)]
    return [_survey(d) for d in find_in(db.surveys, "token", wanted)]


def get(db, survey_id: str, session=None) -> dict:
    survey = _survey(db.surveys.find_one({"_id": survey_id}, session=session))
    if survey is None:
        raise NotFound("找不到这份评议。", "SURVEY_NOT_FOUND")
    return survey


def find_response(uow, response_id: str) -> dict | None:
    return uow.db.responses.find_one({"_id": response_id}, session=uow.session)


def existing_responses(uow, items: list[dict]) -> set[str]:
    """The ids among ``items`` already stored (a redelivery, or the same phone again: the id
    is derived from the phone's client_ref)."""
    ids = [i["response_id"] for i in items]
    return {d["_id"] for d in find_in(uow.db.responses, "_id", ids, projection={"_id": 1}, session=uow.session)}


def surveys_by_id(uow, survey_ids) -> dict[str, dict]:
    cursor = uow.db.surveys.find({"_id": {"$in": sorted(survey_ids)}}, session=uow.session)
    return {d["_id"]: _survey(d) for d in cursor}


def add_responses(uow, docs: list[dict], totals: dict[str, dict]) -> None:
    if docs:
        uow.db.responses.insert_many(docs, session=uow.session)
    for survey_id, inc in totals.items():
        uow.db.surveys.update_one({"_id": survey_id}, {"$inc": inc}, session=uow.session)


def refresh_summary(uow, survey_id: str) -> None:
    """A closed survey that took a late answer (accepted before it closed): summary again."""
    survey = get(uow.db, survey_id, uow.session)
    uow.db.surveys.update_one({"_id": survey_id}, {"$set": {"summary": domain.summary(survey)}}, session=uow.session)


def reschedule(uow, survey_id: str, start, end, program_title: str | None) -> None:
    changes = {"starts_at": start, "ends_at": end}
    if program_title:
        changes["program_title"] = program_title
    uow.db.surveys.update_one({"_id": survey_id, "status": "scheduled"}, {"$set": changes}, session=uow.session)


def mark_cancelled(uow, survey_id: str, at) -> None:
    """The order was cancelled before its delivery: the prepared survey will never open."""
    query = {"_id": survey_id, "status": "scheduled"}
    uow.db.surveys.update_one(query, {"$set": {"status": "cancelled", "closed_at": at}}, session=uow.session)


def mark_open(uow, survey_id: str, changes: dict) -> dict | None:
    """Open a prepared survey; None when another worker opened it first."""
    return _survey(
        find_and_update(
            uow.db.surveys,
            {"_id": survey_id, "status": "scheduled"},
            {"$set": changes},
            after=True,
            session=uow.session,
        )
    )


def mark_closing(uow, survey_id: str, at) -> dict | None:
    """Stop taking answers; None when another worker closed it first."""
    return _survey(
        find_and_update(
            uow.db.surveys,
            {"_id": survey_id, "status": "open"},
            {"$set": {"status": "closing", "closing_at": at}},
            after=True,
            session=uow.session,
        )
    )


def mark_closed(uow, survey_id: str, at, summary: dict) -> dict | None:
    """Close a closing survey with its summary; None when another worker did it first."""
    return _survey(
        find_and_update(
            uow.db.surveys,
            {"_id": survey_id, "status": "closing"},
            {"$set": {"status": "closed", "closed_at": at, "summary": summary}},
            after=True,
            session=uow.session,
        )
    )


def due(db, at, limit: int = 100) -> list[str]:
    return [d["_id"] for d in db.surveys.find({"status": "open", "closes_at": {"$lte": at}}, {"_id": 1}).limit(limit)]


def closing_due(db, before, limit: int = 100) -> list[str]:
    """Surveys that stopped taking answers before ``before``: ready for their summary."""
    query = {"status": "closing", "closing_at": {"$lte": before}}
    return [d["_id"] for d in db.surveys.find(query, {"_id": 1}).limit(limit)]
