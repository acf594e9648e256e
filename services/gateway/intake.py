"""The public feedback form's fast path: the gateway checks an answer and hands it to the
feedback service through a durable queue (contracts/intake.py) instead of a call per answer.

Which surveys are open is kept per process (fresh for ``SURVEY_CACHE_SECONDS``, 1 s; looked up
again in the background after that, the last state used meanwhile for at most 3 s), so a burst
of answers to the same survey costs about one lookup a second, not one per answer; the feedback
service sums a closed survey up only after a grace longer than that (``SURVEY_CLOSE_GRACE``, 5 s).
Answers accepted later than that (another gateway process had not yet seen the close) are
still stored and counted on the survey; only the survey_closed event was sent before them.
"""

from __future__ import annotations

import time

import eventlet
from eventlet.semaphore import Semaphore
from kombu import Connection
from kombu.pools import producers
from nameko.extensions import DependencyProvider

from common.config import setting
from common.errors import Conflict
from contracts import intake
from contracts.base import now

_schema = intake.ResponseIntake()


class _Intake:
    def __init__(self, amqp_uri: str, ttl: float):
        self.connection = Connection(amqp_uri, transport_options={"confirm_publish": True})
        self.ttl = ttl
        self.surveys: dict[str, tuple[float, dict]] = {}
        self.locks: dict[str, Semaphore] = {}
        self.refreshing: set[str] = set()
        self.declared = False

    def survey(self, token: str, fetch) -> dict:
        """The survey as last looked up: fresh for ``ttl`` seconds; after that the first ask
        looks it up again in the background while answers keep using the last known state
        (for at most ``3 × ttl``), so a busy database never holds the audience up."""
        hit = self.surveys.get(token)
        moment = time.monotonic()
        if hit and hit[0] > moment:
            return hit[1]
        if hit and hit[0] + 2 * self.ttl > moment:
            if token not in self.refreshing:
                self.refreshing.add(token)
                eventlet.spawn_n(self._refresh, token, fetch)
            return hit[1]
        # nothing usable: one lookup per survey at a time, the others wait for it
        with self.locks.setdefault(token, Semaphore(1)):
            hit = self.surveys.get(token)
            if hit and hit[0] > time.monotonic():
                return hit[1]
            return self._store(token, fetch())

    def _refresh(self, token: str, fetch) -> None:
        try:
            self._store(token, fetch())
        except Exception:  # noqa: BLE001 - the next ask looks it up in the foreground
            self.surveys.pop(token, None)
        finally:
            self.refreshing.discard(token)

    def _store(self, token: str, survey: dict) -> dict:
        survey = {**survey, "closes_at": _schema.fields["received_at"].deserialize(survey["closes_at"])}
        if len(self.surveys) > 10_000:
            self.surveys.clear()
            self.locks = {}
        self.surveys[token] = (time.monotonic() + self.ttl, survey)
        return survey

    def forget(self, token: str) -> None:
        self.surveys.pop(token, None)

    def accept(self, token: str, answer: dict, fetch) -> dict:
        """Check that the survey takes answers now, publish the answer (confirmed by the
        broker before this returns), and say what was received."""
        survey = self.survey(token, fetch)
        at = now()
        if survey["status"] != "open" or at >= survey["closes_at"]:
            raise Conflict("这份评议已经结束，谢谢您的关注。", "SURVEY_CLOSED")
        item = {
            "version": intake.VERSION,
            "response_id": intake.response_id(survey["survey_id"], answer.get("client_ref")),
            "survey_id": survey["survey_id"],
            "received_at": at,
            "answer": answer,
        }
        body = _schema.dump(item)
        with producers[self.connection].acquire(block=True) as producer:
            producer.publish(
                body,
                exchange=intake.EXCHANGE,
                routing_key=intake.ROUTING_KEY,
                serializer="json",
                delivery_mode=2,
                declare=[] if self.declared else [intake.EXCHANGE, intake.QUEUE],
                retry=True,
                retry_policy={"max_retries": 3},
            )
        self.declared = True
        return {"response_id": item["response_id"], "survey_id": item["survey_id"], "status": "received"}


class ResponseIntake(DependencyProvider):
    def setup(self):
        config = self.container.config
        self.intake = _Intake(setting(config, "AMQP_URI"), float(setting(config, "SURVEY_CACHE_SECONDS", "1")))

    def stop(self):
        self.intake.connection.release()

    def get_dependency(self, worker_ctx):
        return self.intake
