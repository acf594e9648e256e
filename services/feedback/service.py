"""feedback: the audience's anonymous surveys after each delivery."""

from __future__ import annotations

import datetime as dt
import logging

from kombu import Connection
from marshmallow import ValidationError
from nameko.timer import timer
from pymongo.errors import DuplicateKeyError

from common import erasure as erasing
from common import retention as keeping
from common.batching import batch_consume
from common.config import setting
from common.consuming import consumes
from common.errors import N_, Conflict, Invalid, load
from common.observability import Metrics
from common.retry import retrying
from common.rpc import rpc
from common.sharding import process_index
from common.store import MongoStore
from contracts import intake, payloads
from contracts.base import now
from services.feedback import domain, handlers, repository

log = logging.getLogger(__name__)
_out = payloads.SurveyOut()
_intake = intake.ResponseIntake()
_answer = payloads.SubmitResponse()


def survey_out(survey: dict) -> dict:
    live = survey.get("summary") or domain.summary(survey)
    # a closing survey takes no more answers: closed for everyone, its summary follows shortly;
    # a scheduled one has its token (for the poster's QR code) and opens with the delivery
    status = survey["status"] if survey["status"] in ("open", "scheduled") else "closed"
    return _out.dump({**survey, **live, "status": status})


def intake_queues(config) -> tuple[list, list]:
    """The intake queues this process takes at once and those it stands by for (its share of
    the survey shards by ``PROCESS_INDEX`` of ``PROCESSES``; all at once without an index)."""
    return intake.queues_of(process_index(setting(config, "PROCESS_INDEX")), setting(config, "PROCESSES"))


def _iso(at) -> str | None:
    return at.isoformat() if at is not None else None


class FeedbackService:
    name = "feedback"
    metrics = Metrics()

    store = MongoStore("feedback", indexes=repository.ensure_indexes)
    handle_person_erased, finish_erasures = erasing.entrypoints()

    def _hours(self) -> float:
        return setting(self.store.config, "SURVEY_HOURS")

    @consumes("dispatch", "order_scheduled", one_at_a_time="order_id")
    def handle_order_scheduled(self, event, uow):
        handlers.prepare_survey(event, uow)

    @consumes("orders", "order_cancelled", one_at_a_time="order_id")
    def handle_order_cancelled(self, event, uow):
        handlers.cancel_survey(event, uow)

    @consumes("dispatch", "delivery_completed", one_at_a_time="order_id")
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
            "status": domain.public_status(survey, now()),
            "program_title": survey.get("program_title"),
            "starts_at": _iso(survey.get("starts_at")),
            "closes_at": _iso(survey["closes_at"]),
        }

    @rpc
    def intake_surveys(self, tokens: list) -> dict:
        """What the gateway needs to take answers for these surveys, by token (it keeps this for
        a second and asks again for all it keeps at once); unknown tokens are left out."""
        if not isinstance(tokens, list) or len(tokens) > 1000:
            raise Invalid("评议标识有误。", fields={"tokens": [N_("至多 1000 个评议标识。")]})
        return {
            survey["token"]: {
                "survey_id": survey["survey_id"],
                "status": survey["status"] if survey["status"] in ("open", "scheduled") else "closed",
                "closes_at": _iso(survey["closes_at"]),
            }
            for survey in repository.get_many_by_token(self.store.db, tokens)
        }

    @rpc
    def submit_response(self, token: str, payload: dict) -> dict:
        """One anonymous response taken at once; counted once, stored with its event."""
        data = load(payloads.SubmitResponse, payload)
        # the same phone sent it twice at once: run again, the second finds the first
        return retrying(DuplicateKeyError, attempts=2)(
            self.store.transaction, lambda uow: handlers.submit_response(token, data, uow)
        )

    @batch_consume(standby=intake_queues, max_batch=20, max_wait=0.05)
    def take_responses(self, messages: list) -> dict:
        """The audience's answers accepted by the gateway (each message a group of them), a
        batch per transaction. Each survey shard's queue is taken by one process at a time, so
        one survey's answers are added to its totals in one process, in turn."""
        items = []
        for body in (b for m in messages for b in intake.responses(m)):
            try:
                item = _intake.load(body)
                item["answer"] = _answer.load(item["answer"])
            except (ValidationError, TypeError) as err:
                reason = err.messages if isinstance(err, ValidationError) else str(err)
                self.store.dead_letter(
                    body=body,
                    reason=f"contract: {reason}",
                    consumer="feedback.take_responses",
                    source="gateway",
                    event_type="response_intake",
                )
                continue
            items.append(item)
        if not items:
            return {"stored": 0, "skipped": 0}
        try:
            return self.store.transaction(lambda uow: handlers.store_responses(items, uow))
        except DuplicateKeyError:
            # another consumer stored some of them meanwhile (a redelivery racing its original):
            # one at a time, and the one already there is the one that counts
            stored = 0
            for item in items:
                try:
                    stored += self.store.transaction(lambda uow, i=item: handlers.store_responses([i], uow))["stored"]
                except DuplicateKeyError:
                    pass
            return {"stored": stored, "skipped": len(items) - stored}

    @rpc
    def close_survey(self, survey_id: str) -> dict:
        """Stop taking answers now; the summary (and survey_closed) follows after the grace."""
        return survey_out(self.store.transaction(lambda uow: handlers.close_survey(survey_id, uow)))

    def _grace(self) -> float:
        return setting(self.store.config, "SURVEY_CLOSE_GRACE")

    def _intake_waiting(self, survey_ids) -> set[str]:
        """Those of ``survey_ids`` that may have answers accepted by a gateway and not yet taken
        from the queue: their shard's queue, or the one queue of earlier gateways, holds some."""
        with Connection(setting(self.store.config, "AMQP_URI")) as conn:
            channel = conn.default_channel
            _, legacy, _ = intake.QUEUE(channel).queue_declare()
            if legacy:
                return set(survey_ids)
            waiting: dict[str, int] = {}
            for shard in {intake.shard_key(s) for s in survey_ids}:
                _, waiting[shard], _ = intake.SHARD_QUEUES[int(shard)](channel).queue_declare()
        return {s for s in survey_ids if waiting[intake.shard_key(s)]}

    @rpc
    def close_due_surveys(self) -> int:
        """Close what is past its time, and sum up what stopped taking answers a grace ago
        (once the answers accepted before that are stored); returns how many were summed up."""
        moment = now()
        for survey in repository.due(self.store.db, moment):
            try:
                self.store.transaction(lambda uow, s=survey: handlers.close_survey(s, uow, moment))
            except Conflict:
                pass
        ready = repository.closing_due(self.store.db, moment - dt.timedelta(seconds=self._grace()))
        if ready:
            waiting = self._intake_waiting(ready)  # wait until what was accepted is stored
            ready = [s for s in ready if s not in waiting]
        closed = 0
        for survey_id in ready:
            if self.store.transaction(lambda uow, s=survey_id: handlers.finalise(s, uow)):
                closed += 1
        return closed

    @timer(interval=1)
    def close_due(self):
        """One process of the service at a time (the surveys lease): concurrent sweeps only
        conflicted over the same surveys."""
        if self.store.holds("surveys"):
            self.close_due_surveys()

    @rpc
    def ping(self) -> str:
        self.store.db.command("ping")
        return "ok"

    # ------------------------------------------------------------ retention (common/retention.py)

    @timer(interval=keeping.SWEEP_SECONDS)
    def sweep_retention(self):
        """Delete (or clear) what is older than the retention policy; one process at a time."""
        if self.store.holds("retention"):
            removed = keeping.sweep(self.store, "feedback", repository.sweep_retention)
            log.info("retention sweep: %s", removed)

    @rpc
    def retention(self) -> list[dict]:
        """Each kind of personal data this service keeps: days, last sweep, removed, oldest kept."""
        return keeping.report(self.store, "feedback", repository.retention_oldest)

    @rpc
    def sweep_now(self) -> list[dict]:
        """Sweep at once (the admin's button), then what ``retention`` says."""
        keeping.sweep(self.store, "feedback", repository.sweep_retention)
        return self.retention()
