"""Feedback use cases: open a survey on delivery, take anonymous responses, close with a summary."""

from __future__ import annotations

from common.errors import Conflict
from contracts.base import new_id, now
from services.feedback import domain, repository


def open_survey(event: dict, uow, hours: float) -> dict | None:
    if repository.find_by_order(uow.db, event["order_id"], uow.session):
        return None  # one survey per delivery
    survey = domain.new_survey(new_id(), event, now(), hours)
    repository.insert_survey(uow, survey)
    uow.emit(
        "survey_opened",
        survey_id=survey["survey_id"],
        order_id=survey["order_id"],
        palace_id=survey["palace_id"],
        closes_at=survey["closes_at"],
    )
    return survey


def submit_response(token: str, data: dict, uow) -> dict:
    survey = repository.get_by_token(uow.db, token, uow.session)
    if data.get("client_ref"):
        earlier = repository.find_response(uow, survey["survey_id"], data["client_ref"])
        if earlier:
            return {"response_id": earlier["_id"], "survey_id": survey["survey_id"]}
    at = now()
    domain.check_open(survey, at)
    response_id = new_id()
    response = {
        "_id": response_id,
        "survey_id": survey["survey_id"],
        "at": at,
        **{k: data.get(k) for k in ("overall", *domain.ASPECTS, "comment", "wanted_programs", "client_ref")},
    }
    repository.add_response(uow, survey["survey_id"], response, domain.increments(data))
    uow.emit(
        "response_received",
        survey_id=survey["survey_id"],
        order_id=survey["order_id"],
        palace_id=survey["palace_id"],
        response_id=response_id,
        overall=data["overall"],
        content=data.get("content"),
        performers=data.get("performers"),
        organisation=data.get("organisation"),
        comment=data.get("comment"),
        wanted_programs=data.get("wanted_programs") or [],
    )
    return {"response_id": response_id, "survey_id": survey["survey_id"]}


def close_survey(survey_id: str, uow) -> dict:
    survey = repository.get(uow.db, survey_id, uow.session)
    if survey["status"] == "closed":
        return survey
    summary = domain.summary(survey)
    closed = repository.mark_closed(uow, survey_id, now(), summary)
    if closed is None:
        raise Conflict("这份评议正在被关闭，请稍后刷新。", "SURVEY_CLOSING")
    uow.emit(
        "survey_closed", survey_id=survey_id, order_id=survey["order_id"], palace_id=survey["palace_id"], **summary
    )
    return closed
