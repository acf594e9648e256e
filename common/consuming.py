"""Event consumers that lose nothing and do nothing twice.

``consumes(source, event_type)`` wraps a nameko event handler so that:
- the payload is loaded with its contract (unknown fields ignored, older versions upcast);
  a malformed event or an unknown version goes to the dead-letter queue with the reason;
- the handler runs in one transaction with an inbox entry keyed by (consumer, event_id),
  so a redelivered event changes nothing;
- a failing handler is retried with back-off, then dead-lettered with the reason,
  instead of being acked and forgotten (nameko's default on error);
- while the database (or a service the handler asks, ``TryLater``) cannot be reached, the
  message goes back to the broker (requeued), so an outage delays events and loses none;
- with ``one_at_a_time=<field>``, events with the same value of that field are handled one after
  another in this process (others keep flowing): handlers that would write the same documents
  (the same order's record, the same palace's loads) then wait for their turn instead of
  running into write conflicts and running their transaction again and again. Across processes
  the database's conflict detection still decides; this only spares the retries.
"""

from __future__ import annotations

import functools
import logging
from contextlib import contextmanager
from functools import partial

from eventlet.semaphore import Semaphore
from marshmallow import ValidationError
from nameko.events import EventHandler
from nameko.messaging import QueueConsumer
from pymongo.errors import ConnectionFailure, NetworkTimeout

from common.config import setting
from common.errors import ServiceError
from common.retry import retrying
from common.store import AlreadyHandled, publish_dead_letter
from contracts.events import UnknownEvent, load_event

log = logging.getLogger(__name__)

RETRIES = 4
BACKOFF_SECONDS = 0.2


def _handling(consumer: str, event_id: str):
    """A failing handler is tried RETRIES times in all, BACKOFF_SECONDS doubling between; not
    when the domain refused the event (trying again cannot help), the event was handled before,
    or the database or another service is away (the broker keeps the message meanwhile)."""

    def said(err: BaseException, tries: int) -> None:
        log.warning("%s failed on %s (attempt %d): %r", consumer, event_id, tries, err)

    return retrying(
        Exception,
        attempts=RETRIES,
        wait=BACKOFF_SECONDS,
        doubling=True,
        unless=(ServiceError, AlreadyHandled, ConnectionFailure, NetworkTimeout, TryLater),
        before_again=said,
    )


class TryLater(Exception):
    """Another service the handler needs is away: like the database being away, the message goes
    back to the broker to be handled later, rather than being parked as faulty."""


class DeadLetteringQueueConsumer(QueueConsumer):
    """A body that cannot even be decoded is parked with the reason, instead of stopping the
    consumer (nameko sets no decode-error callback, so kombu raises in its consume loop)."""

    def get_consumers(self, consumer_cls, channel):
        for provider in self._providers:
            consumer = consumer_cls(
                queues=[provider.queue],
                callbacks=[partial(self.handle_message, provider)],
                accept=self.accept,
                on_decode_error=self.on_decode_error,
            )
            consumer.qos(prefetch_count=self.prefetch_count)
            self._consumers[provider] = consumer
        return self._consumers.values()

    def on_decode_error(self, message, exc):
        info = message.delivery_info or {}
        publish_dead_letter(
            setting(self.container.config, "AMQP_URI"),
            message.body,
            reason=f"undecodable: {exc!r}",
            consumer=self.container.service_name,
            source=str(info.get("exchange", "")).removesuffix(".events"),
            event_type=str(info.get("routing_key", "")),
            raw=True,
            content_type=message.content_type,
        )
        message.ack()


class ReliableEventHandler(EventHandler):
    """nameko's event handler on a quorum queue (replicated in a RabbitMQ cluster), with
    undecodable messages dead-lettered."""

    queue_consumer = DeadLetteringQueueConsumer()

    def setup(self):
        super().setup()
        self.queue.queue_arguments = {**(self.queue.queue_arguments or {}), "x-queue-type": "quorum"}


class Turns:
    """One holder at a time per key, within this process (green threads wait for their turn)."""

    def __init__(self):
        self._held: dict = {}  # key → [semaphore, holders and waiters]

    @contextmanager
    def turn(self, key):
        if key is None:
            yield
            return
        entry = self._held.setdefault(key, [Semaphore(1), 0])
        entry[1] += 1
        try:
            with entry[0]:
                yield
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                del self._held[key]


_turns = Turns()


def load_or_park(store, source: str, event_type: str, payload, consumer: str) -> dict | None:
    """The event loaded with its contract, or None once a malformed event or an unknown version
    has been parked in the dead-letter queue with the reason."""
    try:
        return load_event(source, event_type, payload)
    except (UnknownEvent, ValidationError) as err:
        reason = err.messages if isinstance(err, ValidationError) else str(err)
        store.dead_letter(
            body=payload, reason=f"contract: {reason}", consumer=consumer, source=source, event_type=event_type
        )
        return None


def consumes(source: str, event_type: str, *, store_attr: str = "store", one_at_a_time: str | None = None):
    def decorator(fn):
        @functools.wraps(fn)
        def wrapper(self, payload):
            store = getattr(self, store_attr)
            consumer = f"{self.name}.{fn.__name__}"
            data = load_or_park(store, source, event_type, payload, consumer)
            if data is None:
                return None

            def work(uow):
                uow.once(consumer, data["event_id"])
                return fn(self, data, uow)

            work.__qualname__ = consumer
            key = (one_at_a_time, data.get(one_at_a_time)) if one_at_a_time and data.get(one_at_a_time) else None
            with _turns.turn(key):
                try:
                    return _handling(consumer, data["event_id"])(store.transaction, work)
                except AlreadyHandled:
                    return None
                except (ConnectionFailure, NetworkTimeout, TryLater):
                    # the database is away, not the message at fault: hand it back to the
                    # broker (requeue) rather than park it; it is handled when the database is back
                    raise
                except Exception as err:  # noqa: BLE001 - the domain refused it, or the tries are spent
                    store.dead_letter(
                        body=payload,
                        reason=f"handler: {err!r}",
                        consumer=consumer,
                        source=source,
                        event_type=event_type,
                    )
                    return None

        return ReliableEventHandler.decorator(source, event_type, requeue_on_error=True)(wrapper)

    return decorator
