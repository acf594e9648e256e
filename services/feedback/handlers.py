"""Feedback use cases: open a survey on delivery, take anonymous responses, close with a summary."""

from __future__ import annotations

from common.errors import Conflict
from contracts import intake
from contracts.base import new_id, now
from services.feedback import domain, repository


def prepare_survey(event: dict, uow) -> dict | None:
    """The order is scheduled: its survey (and token) exists from now on, not yet taking answers.
    Scheduled again (another time): the survey says the new start. Once the delivery opened it,
    a late or repeated ``order_scheduled`` changes nothing."""
    survey = repository.find_by_order(uow.db, event["order_id"], uow.session)
    if survey is None:
        survey = domain.scheduled_survey(new_id(), event)
        repository.insert_survey(uow, survey)  # a racing twin hits the unique order index and is retried
        return survey
    if survey["status"] == "scheduled":
        repository.reschedule(uow, survey["survey_id"], event["start"], event["end"], event.get("program_title"))
    return None


def cancel_survey(event: dict, uow) -> None:
    """The order was cancelled: a survey prepared at its scheduling says so and takes no answers."""
    survey = repository.find_by_order(uow.db, event["order_id"], uow.session)
    if survey is not None and survey["status"] == "scheduled":
        repository.mark_cancelled(uow, survey["survey_id"], now())


def open_survey(event: dict, uow, hours: float) -> dict | None:
    """The delivery is recorded: the order's survey opens (the one prepared when it was
    scheduled, or a new one when that event has not come yet); one survey per delivery."""
    survey = repository.find_by_order(uow.db, event["order_id"], uow.session)
    if survey is None:
        survey = domain.new_survey(new_id(), event, now(), hours)
        repository.insert_survey(uow, survey)
    elif survey["status"] == "scheduled":
        survey = repository.mark_open(uow, survey["survey_id"], domain.opening(event, now(), hours))
        if survey is None:
            return None  # another worker opened it first
    else:
        return None
    uow.emit(
        "survey_opened",
        survey_id=survey["survey_id"],
        order_id=survey["order_id"],
        palace_id=survey["palace_id"],
        closes_at=survey["closes_at"],
    )
    return survey


def submit_response(token: str, data: dict, uow) -> dict:
    """One response taken at once (an RPC caller); the public form goes through the intake queue."""
    survey = repository.get_by_token(uow.db, token, uow.session)
    response_id = intake.response_id(survey["survey_id"], data.get("client_ref"))
    if repository.find_response(uow, response_id):
        return {"response_id": response_id, "survey_id": survey["survey_id"]}
    at = now()
    domain.check_open(survey, at)
    store_responses(
        [{"response_id": response_id, "survey_id": survey["survey_id"], "received_at": at, "answer": data}], uow
    )
    return {"response_id": response_id, "survey_id": survey["survey_id"]}


def store_responses(items: list[dict], uow) -> dict:
    """A batch of accepted responses in one transaction: each stored once (a redelivered one is
    skipped by its id), folded into its survey's running totals, announced by its event.

    A response the gateway accepted while the survey was open is kept even if the survey was
    closed meanwhile; a closed survey's summary then counts it too."""
    items = list({item["response_id"]: item for item in items}.values())
    known = repository.existing_responses(uow, items)
    items = [i for i in items if i["response_id"] not in known]
    if not items:
        return {"stored": 0, "skipped": len(known)}
    surveys = repository.surveys_by_id(uow, {i["survey_id"] for i in items})
    docs, totals = [], {}
    for item in items:
        survey = surveys.get(item["survey_id"])
        if survey is None:
            continue  # the gateway saw this survey; it cannot vanish, but never fail a batch on it
        data = item["answer"]
        docs.append(
            {
                "_id": item["response_id"],
                "survey_id": item["survey_id"],
                "at": item["received_at"],
                **{k: data.get(k) for k in ("overall", *domain.ASPECTS, "comment", "wanted_programs", "client_ref")},
            }
        )
        inc = totals.setdefault(item["survey_id"], {})
        for key, value in domain.increments(data).items():
            inc[key] = inc.get(key, 0) + value
        uow.emit(
            "response_received",
            survey_id=item["survey_id"],
            order_id=survey["order_id"],
            palace_id=survey["palace_id"],
            response_id=item["response_id"],
            overall=data["overall"],
            content=data.get("content"),
            performers=data.get("performers"),
            organisation=data.get("organisation"),
            comment=data.get("comment"),
            wanted_programs=data.get("wanted_programs") or [],
        )
    repository.add_responses(uow, docs, totals)
    late = [s for s in totals if surveys[s]["status"] == "closed"]
    for survey_id in late:
        repository.refresh_summary(uow, survey_id)
    return {"stored": len(docs), "skipped": len(known)}


def close_survey(survey_id: str, uow, at=None) -> dict:
    """Stop taking answers now; the summary is drawn up by ``finalise`` once the answers
    accepted before this moment have been stored (``grace`` later and the intake drained)."""
    survey = repository.get(uow.db, survey_id, uow.session)
    if survey["status"] != "open":
        return survey
    closing = repository.mark_closing(uow, survey_id, at or now())
    if closing is None:
        raise Conflict("这份评议正在被关闭，请稍后刷新。", "SURVEY_CLOSING")
    return closing


def finalise(survey_id: str, uow) -> dict | None:
    survey = repository.get(uow.db, survey_id, uow.session)
    if survey["status"] != "closing":
        return None
    summary = domain.summary(survey)
    closed = repository.mark_closed(uow, survey_id, now(), summary)
    if closed is None:
        return None
    uow.emit(
        "survey_closed", survey_id=survey_id, order_id=survey["order_id"], palace_id=survey["palace_id"], **summary
    )
    return closed
