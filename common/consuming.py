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

``by_shard(source, event_types, key=...)`` takes a keyed stream across processes too: the relay
stamps each event with the shard of each key it carries (``common.sharding.HEADERS``: ``palace_id``,
``order_id``; one of ``SHARDS``), and the consuming service has one queue per shard (quorum, single
active consumer: one process at a time takes a shard, another stands by and takes over when it
goes), bound by that key's header to a headers exchange which the source's event exchange feeds
(or several sources' exchanges: ``by_shard({source: event_types, …}, key=...)``, one queue per
shard for all of them). So each palace's planning happens in one dispatch process, each order's
notifications in one notifications process, and processes no longer run into each other's
transactions. Process ``i``
of ``PROCESSES`` (``PROCESS_INDEX``, set by whatever starts the processes, or the ordinal ending a
StatefulSet pod's host name) subscribes first to the shards ``k % PROCESSES == i`` and to the others
``STANDBY_AFTER`` seconds later, so the shards are spread when the processes start together;
without an index a process subscribes to all at once. On start each shard queue also loses the
binding earlier versions made on ``x-palace-shard`` (a header RabbitMQ leaves out of the match:
that binding took every event into every shard).
"""

from __future__ import annotations

import functools
import logging
from contextlib import contextmanager
from functools import partial

import eventlet
from eventlet.semaphore import Semaphore
from kombu import Connection, Exchange, Queue
from marshmallow import ValidationError
from nameko.events import EventHandler, get_event_exchange
from nameko.messaging import Consumer, QueueConsumer
from pymongo.errors import ConnectionFailure, NetworkTimeout

from common.config import setting
from common.errors import ServiceError
from common.retry import retrying
from common.sharding import HEADERS, OLD_HEADERS, SHARD_KEY, SHARDS, process_index
from common.store import AlreadyHandled, publish_dead_letter
from contracts.events import UnknownEvent, load_event

log = logging.getLogger(__name__)

RETRIES = 4
BACKOFF_SECONDS = 0.2
STANDBY_AFTER = 3.0


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


class StandbyQueueConsumer(DeadLetteringQueueConsumer):
    """Subscribes ``STANDBY_AFTER`` seconds after its container started: on a single-active-
    consumer queue it then stands by behind the process that subscribed at once."""

    _later = None

    def start(self):
        self._later = self.container.spawn_managed_thread(self._start_later, identifier="standby_consumer")

    def _start_later(self):
        eventlet.sleep(STANDBY_AFTER)
        super().start()

    def stop(self):
        if self._gt is None:  # stopped before it subscribed
            if self._later is not None:
                self._later.kill()
            return
        super().stop()

    def kill(self):
        if self._gt is None:
            if self._later is not None:
                self._later.kill()
            return
        super().kill()


def _stem(service: str, sources, key: str) -> str:
    """``dispatch-orders`` for one source's palace shards (the names dispatch always had); the key
    for shards that several sources feed: ``notifications-order``."""
    sources = tuple(sources)
    stem = f"{service}-{sources[0]}" if len(sources) == 1 else service
    return stem if key == SHARD_KEY and len(sources) == 1 else f"{stem}-{key.removesuffix('_id')}"


def shard_exchange_name(service: str, sources, key: str = SHARD_KEY) -> str:
    """``dispatch.orders.shards``; ``notifications.order.shards``."""
    return _stem(service, (sources,) if isinstance(sources, str) else sources, key).replace("-", ".") + ".shards"


def shard_queue_name(service: str, sources, key: str, shard: str) -> str:
    """``dispatch-orders-shard-03``; ``notifications-order-shard-03``."""
    return f"{_stem(service, (sources,) if isinstance(sources, str) else sources, key)}-shard-{shard}"


class ShardHandler(ReliableEventHandler):
    """Consumes one shard's queue of the events ``sources`` names (``{source: event types}``),
    sharded by ``key``; the method gets ``(event_type, payload)`` from one source, ``(source,
    event_type, payload)`` from several."""

    _bound: set = set()  # (vhost address, exchange) bound to its sources in this process

    def __init__(self, sources: dict[str, tuple[str, ...]], shard: str, key: str = SHARD_KEY, **kwargs):
        first = next(iter(sources))
        super().__init__(first, sources[first][0], **kwargs)
        self.sources = {source: tuple(types) for source, types in sources.items()}
        self.event_types = tuple(t for types in self.sources.values() for t in types)
        self.shard = shard
        self.key = key

    def exchange(self) -> Exchange:
        """The shards' exchange; what it cannot route (an event without the header: a malformed
        one, or published by hand) goes on to the first shard, to be handled or dead-lettered."""
        name = shard_exchange_name(self.container.service_name, self.sources, self.key)
        return Exchange(name, type="headers", durable=True, arguments={"alternate-exchange": f"{name}.unsharded"})

    def _queue(self, shard: str, exchange: Exchange, **binding) -> Queue:
        return Queue(
            shard_queue_name(self.container.service_name, self.sources, self.key, shard),
            exchange=exchange,
            durable=True,
            queue_arguments={"x-queue-type": "quorum", "x-single-active-consumer": True},
            **binding,
        )

    def setup(self):
        self.queue = self._queue(
            self.shard, self.exchange(), binding_arguments={"x-match": "all", HEADERS[self.key]: self.shard}
        )
        Consumer.setup(self)

    def start(self):
        # the sources' event exchanges feed the shards' exchange (declared once per process)
        uri = setting(self.container.config, "AMQP_URI")
        if (uri, self.exchange().name) not in ShardHandler._bound:
            with Connection(uri) as conn:
                channel = conn.channel()
                shards = self.exchange()(channel)
                shards.declare()
                for name, event_types in self.sources.items():
                    source = get_event_exchange(name, self.container.config)(channel)
                    source.declare()
                    for event_type in event_types:
                        shards.bind_to(source, routing_key=event_type)
                unsharded = Exchange(f"{shards.name}.unsharded", type="fanout", durable=True)
                self._queue(f"{0:02d}", unsharded)(channel).declare()
                old = OLD_HEADERS.get(self.key) if len(self.sources) == 1 else None
                for k in range(SHARDS) if old else ():  # what earlier versions bound (see the module)
                    queue = self._queue(f"{k:02d}", shards)
                    channel.queue_declare(
                        queue=queue.name, durable=True, auto_delete=False, arguments=queue.queue_arguments
                    )
                    channel.queue_unbind(queue.name, shards.name, "", arguments={"x-match": "all", old: f"{k:02d}"})
            ShardHandler._bound.add((uri, self.exchange().name))
        super().start()

    def handle_message(self, body, message):
        info = message.delivery_info or {}
        event_type = info.get("routing_key", "")
        source = str(info.get("exchange", "")).removesuffix(".events")
        if event_type not in self.sources.get(source, ()):  # not ours: nothing to do with it
            self.queue_consumer.ack_message(message)
            return
        args = (event_type, body) if len(self.sources) == 1 else (source, event_type, body)
        context_data = self.unpack_message_headers(message)
        handle_result = functools.partial(self.handle_result, message)
        try:
            self.container.spawn_worker(self, args, {}, context_data=context_data, handle_result=handle_result)
        except Exception:  # noqa: BLE001 - the container is being killed: the message goes back
            self.queue_consumer.requeue_message(message)


class StandbyShardHandler(ShardHandler):
    queue_consumer = StandbyQueueConsumer()


def by_shard(source, event_types: tuple[str, ...] = (), key: str = SHARD_KEY):
    """An entrypoint per shard of ``source``'s ``event_types`` by ``key`` (see the module's
    description); the method gets ``(event_type, payload)``, for handlers made with
    ``consumes(..., entrypoint=False)``. ``source`` a dict ``{source: event types}``: the shards
    of several sources' events (each key's events from all of them in one queue), the method
    gets ``(source, event_type, payload)``."""
    sources = dict(source) if isinstance(source, dict) else {source: tuple(event_types)}
    processes = max(1, setting(None, "PROCESSES"))
    index = process_index(setting(None, "PROCESS_INDEX"))

    def decorator(fn):
        for k in range(SHARDS):
            shard = f"{k:02d}"
            first = index is None or k % processes == index % processes
            cls = ShardHandler if first else StandbyShardHandler
            fn = cls.decorator(sources, shard, key=key, requeue_on_error=True)(fn)
        return fn

    return decorator


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


def consumes(
    source: str,
    event_type: str,
    *,
    store_attr: str = "store",
    one_at_a_time: str | None = None,
    entrypoint: bool = True,
):
    """``entrypoint=False``: the handler alone, for a ``by_shard`` entrypoint to call."""

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

        wrapper.consumed = (source, event_type)  # what it takes (scripts/shard_cleanup.py names its old queue)
        if not entrypoint:
            return wrapper
        return ReliableEventHandler.decorator(source, event_type, requeue_on_error=True)(wrapper)

    return decorator
