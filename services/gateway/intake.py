"""The public feedback form's fast path: the gateway checks an answer and hands it to the
feedback service through a durable queue (contracts/intake.py) instead of a call per answer.

Which surveys are open is kept per process (fresh for ``SURVEY_CACHE_SECONDS``, 1 s; looked up
again in the background after that, every survey due in one call, the last state used meanwhile
for at most 3 s), so a burst
of answers to the same survey costs about one lookup a second, not one per answer; the feedback
service sums a closed survey up only after a grace longer than that (``SURVEY_CLOSE_GRACE``, 5 s).
Answers accepted later than that (another gateway process had not yet seen the close) are
still stored and counted on the survey; only the survey_closed event was sent before them.

Answers that arrive together leave together: while one message is on its way to the broker the
next answers wait, and go as one message per survey shard (up to ``MAX_GROUP`` answers in all)
with one publisher confirm each. Each
answer is confirmed to its phone only once the broker has its message, as before, but a burst
costs the broker one message and one confirm per group instead of per answer.
"""

from __future__ import annotations

import time

import eventlet
from eventlet.event import Event
from eventlet.semaphore import Semaphore
from kombu import Connection
from kombu.pools import producers
from nameko.extensions import DependencyProvider

from common.config import setting
from common.errors import Conflict, NotFound, Unavailable
from common.rpc import UNAVAILABLE
from contracts import intake
from contracts.base import now

_schema = intake.ResponseIntake()
MAX_GROUP = 200
REFRESH_AT_ONCE = 500


class _Grouped:
    """Publishes what is handed to it, several items per message: one green thread sends while
    the callers wait; whatever arrived meanwhile goes next, as one message."""

    def __init__(self, connection: Connection):
        self.connection = connection
        self.waiting: list[tuple[dict, Event]] = []
        self.sending = False
        self.declared: set[str] = set()  # the shards whose queue this process declared

    def publish(self, item: dict) -> None:
        """Returns once the broker has confirmed the message holding ``item``; raises if not."""
        done = Event()
        self.waiting.append((item, done))
        if not self.sending:
            self.sending = True
            eventlet.spawn_n(self._send_all)
        failure = done.wait()
        if failure is not None:
            raise failure

    def _send_all(self) -> None:
        try:
            while self.waiting:
                group, self.waiting = self.waiting[:MAX_GROUP], self.waiting[MAX_GROUP:]
                try:
                    self._send([item for item, _ in group])
                except Exception as exc:  # noqa: BLE001 - each waiting caller gets the failure
                    for _, done in group:
                        done.send(exc)
                else:
                    for _, done in group:
                        done.send(None)
        finally:
            self.sending = False

    def _send(self, items: list[dict]) -> None:
        """One message per survey shard among ``items`` (each shard has its own queue)."""
        by_shard: dict[str, list[dict]] = {}
        for item in items:
            by_shard.setdefault(intake.shard_key(item["survey_id"]), []).append(item)
        with producers[self.connection].acquire(block=True) as producer:
            for shard, group in sorted(by_shard.items()):
                queue = intake.SHARD_QUEUES[int(shard)]
                producer.publish(
                    group,
                    exchange=intake.SHARD_EXCHANGE,
                    routing_key=shard,
                    serializer="json",
                    delivery_mode=2,
                    declare=[] if shard in self.declared else [intake.SHARD_EXCHANGE, queue],
                    retry=True,
                    retry_policy={"max_retries": 3},
                )
                self.declared.add(shard)


class _Intake:
    def __init__(self, amqp_uri: str, ttl: float):
        self.connection = Connection(amqp_uri, transport_options={"confirm_publish": True})
        self.ttl = ttl
        self.surveys: dict[str, tuple[float, dict]] = {}
        self.locks: dict[str, Semaphore] = {}
        self.due: set[str] = set()
        self.asked: dict[str, float] = {}
        self.looking_up: set[str] = set()
        self.refreshing = False
        self.outgoing = _Grouped(self.connection)

    def survey(self, token: str, fetch) -> dict:
        """The survey as last looked up: fresh for ``ttl`` seconds; after that the first ask
        marks it for the next lookup in the background (one call for every survey due, so a
        hundred surveys open at once cost one call a second, not a hundred) while answers keep
        using the last known state (for at most ``3 × ttl``), so a busy database never holds the
        audience up. ``fetch(tokens)`` answers {token: survey} and leaves unknown ones out."""
        hit = self.surveys.get(token)
        moment = time.monotonic()
        self.asked[token] = moment
        if hit and hit[0] > moment:
            return hit[1]
        if hit and hit[0] + 2 * self.ttl > moment:
            if token not in self.looking_up:
                self.due.add(token)
            if not self.refreshing:
                self.refreshing = True
                eventlet.spawn_n(self._refresh, fetch)
            return hit[1]
        # nothing usable: one lookup per survey at a time, the others wait for it
        with self.locks.setdefault(token, Semaphore(1)):
            hit = self.surveys.get(token)
            if hit and hit[0] > time.monotonic():
                return hit[1]
            found = fetch([token])
            if token not in found:
                raise NotFound("找不到这份评议，请检查二维码或链接。", "SURVEY_NOT_FOUND")
            return self._store(token, found[token])

    def _refresh(self, fetch) -> None:
        """Looks up the surveys due, and with them every other survey asked for lately whose
        freshness ends within half a ``ttl``: from then on they go stale together and come back
        in one call."""
        try:
            moment = time.monotonic()
            self.due.update(
                token
                for token, (fresh_until, _) in self.surveys.items()
                if fresh_until < moment + self.ttl / 2 and self.asked.get(token, 0) > moment - 3 * self.ttl
            )
            while self.due:
                tokens, self.due = sorted(self.due)[:REFRESH_AT_ONCE], set(sorted(self.due)[REFRESH_AT_ONCE:])
                self.looking_up = set(tokens)
                try:
                    found = fetch(tokens)
                except Exception:  # noqa: BLE001 - the next ask looks them up in the foreground
                    for token in tokens:
                        self.surveys.pop(token, None)
                    continue
                finally:
                    self.looking_up = set()
                for token in tokens:
                    if token in found:
                        self._store(token, found[token])
                    else:
                        self.surveys.pop(token, None)
        finally:
            self.refreshing = False

    def _store(self, token: str, survey: dict) -> dict:
        closes_at = survey.get("closes_at")
        survey = {**survey, "closes_at": _schema.fields["received_at"].deserialize(closes_at) if closes_at else None}
        if len(self.surveys) > 10_000:
            self.surveys.clear()
            self.asked.clear()
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
        if survey["status"] == "scheduled":
            raise Conflict("这次服务还没有开始，服务结束后才能评议。", "SURVEY_NOT_OPEN")
        if survey["status"] != "open" or at >= survey["closes_at"]:
            raise Conflict("这份评议已经结束，谢谢您的关注。", "SURVEY_CLOSED")
        item = {
            "version": intake.VERSION,
            "response_id": intake.response_id(survey["survey_id"], answer.get("client_ref")),
            "survey_id": survey["survey_id"],
            "received_at": at,
            "answer": answer,
        }
        try:
            self.outgoing.publish(_schema.dump(item))
        except UNAVAILABLE:  # the broker did not take it (its node just went): the phone sends it again
            raise Unavailable("服务暂时不可用，请稍后再试。") from None
        return {"response_id": item["response_id"], "survey_id": item["survey_id"], "status": "received"}


class ResponseIntake(DependencyProvider):
    def setup(self):
        config = self.container.config
        self.intake = _Intake(setting(config, "AMQP_URI"), setting(config, "SURVEY_CACHE_SECONDS"))

    def stop(self):
        self.intake.connection.release()

    def get_dependency(self, worker_ctx):
        return self.intake
