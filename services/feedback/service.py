"""feedback: the audience's anonymous surveys after each delivery."""

from __future__ import annotations

from nameko.timer import timer
from pymongo.errors import DuplicateKeyError

from common.config import setting
from common.consuming import consumes
from common.errors import Conflict, load
from common.observability import Metrics
from common.rpc import rpc
from common.store import MongoStore
from contracts import payloads
from contracts.base import now
from services.feedback import domain, handlers, repository

_out = payloads.SurveyOut()


def survey_out(survey: dict) -> dict:
    live = survey.get("summary") or domain.summary(survey)
    return _out.dump({**survey, **live})


class FeedbackService:
    name = "feedback"
    metrics = Metrics()

    store = MongoStore("feedback", indexes=repository.ensure_indexes)

    def _hours(self) -> float:
        return float(setting(self.store.config, "SURVEY_HOURS"))

    @consumes("dispatch", "delivery_completed")
    def handle_delivery_completed(self, event, uow):
        handlers.open_survey(event, uow, self._hours())

    @rpc
    def get_survey_by_order(self, order_id: str) -> dict:
        """The survey of a delivery, with its token, for the enterprise to show its workers."""
        return survey_out(repository.get_by_order(self.store.db, order_id))

    @rpc
    def get_public_survey(self, token: str) -> dict:
        """What the audience's form needs, and nothing about the enterprise."""
        survey = repository.get_by_token(self.store.db, token)
        return {
            "survey_id": survey["survey_id"],
            "status": "open" if domain.is_open(survey, now()) else "closed",
            "program_title": survey.get("program_title"),
            "closes_at": survey["closes_at"].isoformat(),
        }

    @rpc
    def submit_response(self, token: str, payload: dict) -> dict:
        """One anonymous response; counted once, stored with its response_received event."""
        data = load(payloads.SubmitResponse, payload)
        try:
            return self.store.transaction(lambda uow: handlers.submit_response(token, data, uow))
        except DuplicateKeyError:  # the same phone sent it twice at once
            return self.store.transaction(lambda uow: handlers.submit_response(token, data, uow))

    @rpc
    def close_survey(self, survey_id: str) -> dict:
        return survey_out(self.store.transaction(lambda uow: handlers.close_survey(survey_id, uow)))

    @rpc
    def close_due_surveys(self) -> int:
        closed = 0
        for survey_id in repository.due(self.store.db, now()):
            try:
                self.store.transaction(lambda uow, s=survey_id: handlers.close_survey(s, uow))
                closed += 1
            except Conflict:
                pass
        return closed

    @timer(interval=10)
    def close_due(self):
        self.close_due_surveys()

    @rpc
    def ping(self) -> str:
        self.store.db.command("ping")
        return "ok"
