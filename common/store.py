"""A service's MongoDB database, its transactional outbox, its inbox and its outbox relay.

All pymongo use in the services goes through ``Store``: a state change and the events it
causes are written in one transaction (the outbox), and a relay publishes the outbox to
RabbitMQ with publisher confirms, taking each event out of the outbox only after the broker
has confirmed it (the outbox holds what is still to be published; the reporting archive keeps
every event). Each process publishes the events it committed itself as soon as they are
committed (no query), and deletes what it published in one go every SENT_KEPT (for the
embedded database a delete command costs several times a document's share of a larger one); the
process holding the relay lease also looks, every second, for events left unpublished for
LEFTOVER_AFTER (their process died, or the broker was away). Killed at any line, a process loses
no event (at least once; consumers drop repeats via the inbox).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
import uuid
from collections import deque
from typing import Any, Callable

from kombu import Connection, Exchange, Queue
from kombu.pools import producers
from nameko.extensions import DependencyProvider
from nameko.standalone.events import get_event_exchange
from prometheus_client import Counter
from pymongo import ASCENDING, MongoClient
from pymongo.errors import DuplicateKeyError, PyMongoError

from common.config import setting
from common.retry import retrying
from common.sharding import shard_headers
from contracts.base import new_id, now
from contracts.events import dump_event

log = logging.getLogger(__name__)
RETRIES = Counter("songwenhua_transaction_retries_total", "Transactions run again after a write conflict", ["service"])

DEAD_LETTER_EXCHANGE = "dead_letters"
DEAD_LETTER_QUEUE = "dead_letters"
LEASE = dt.timedelta(seconds=10)
LEASE_LOOK_AGAIN = dt.timedelta(seconds=2)
RELAY_BATCH = 200
IN_AT_ONCE = 50
LEFTOVER_AFTER = dt.timedelta(seconds=2)
LEFTOVER_POLL_SECONDS = 1.0
FRESH_KEPT = 10_000
SENT_KEPT = 0.5  # seconds a published event may wait in the outbox to be deleted with others


def in_chunks(values, size: int = IN_AT_ONCE):
    """``values`` (any iterable, a cursor too: read as it goes) as lists of at most ``size``.
    For ``$in`` the default: the embedded database matches each document it finds against the
    whole list, so one query with a list of n costs it time growing with n squared (per document
    found: 0.10 ms in a list of 10, 0.14 of 50, 1.5 of 1,000)."""
    chunk = []
    for value in values:
        chunk.append(value)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def find_in(collection, field: str, values, query: dict | None = None, projection=None, session=None):
    """The documents whose ``field`` is one of ``values`` (and that match ``query``), a query
    per ``IN_AT_ONCE`` values."""
    for chunk in in_chunks(values):
        yield from collection.find({**(query or {}), field: {"$in": chunk}}, projection, session=session)


def find_and_update(collection, query: dict, update: dict, *, upsert: bool = False, after: bool = False, session=None):
    """What ``find_one_and_update`` does, as a read, an update that repeats the query, and (with
    ``after``) a read back by key: the embedded database answers findAndModify by walking the
    whole collection (10 ms at 1,000 documents, 69 ms at 10,000, by key alone), where each of
    these costs it about half a millisecond whatever the size. A document another writer changed
    between the read and the update no longer matches and the next is looked for, so a claim
    stays a claim. An upsert needs the key in the query."""
    while True:
        found = collection.find_one(query, session=session)
        if found is None:
            if not upsert:
                return None
            result = collection.update_one(query, update, upsert=True, session=session)
            key = result.upserted_id if result.upserted_id is not None else query["_id"]
            return collection.find_one({"_id": key}, session=session) if after else None
        result = collection.update_one({**query, "_id": found["_id"]}, update, session=session)
        if result.matched_count:
            return collection.find_one({"_id": found["_id"]}, session=session) if after else found


def _confirming(amqp_uri: str) -> Connection:
    """A broker connection whose publishes wait for the broker's confirm."""
    return Connection(amqp_uri, transport_options={"confirm_publish": True})


class AlreadyHandled(Exception):
    """The event was handled before by this consumer: nothing to do."""


class UnitOfWork:
    """One transaction: the session to pass to pymongo, and the events to publish on commit."""

    def __init__(self, db, session, source: str, actor: dict | None = None):
        self.db = db
        self.session = session
        self.source = source
        self.actor = actor
        self.events: list[tuple[str, dict]] = []
        self.outbox: list[dict] = []
        self.afterwards: list[Callable[[], Any]] = []

    def emit(self, event_type: str, **data: Any) -> dict:
        data.setdefault("event_id", new_id())
        data.setdefault("occurred_at", now())
        if self.actor:
            data.setdefault("actor", self.actor)
        payload = dump_event(self.source, event_type, data)
        self.events.append((event_type, payload))
        return payload

    def after_commit(self, fn: Callable[[], Any]) -> None:
        """Run ``fn`` once the transaction has committed (never if it does not): for a write
        that does not have to be atomic with the rest and that many transactions would make to
        one document, each conflicting with the others and running again."""
        self.afterwards.append(fn)

    def once(self, consumer: str, event_id: str) -> None:
        """Record that ``consumer`` handled ``event_id``; raise AlreadyHandled on a repeat."""
        key = f"{consumer}:{event_id}"
        try:  # a repeat fails on the key (no read first): the transaction is then abandoned
            self.db.inbox.insert_one({"_id": key, "at": now()}, session=self.session)
        except DuplicateKeyError:
            raise AlreadyHandled(key) from None

    def _write_outbox(self) -> None:
        if not self.events:
            return
        stamp = time.time_ns()
        self.outbox = [
            {
                "_id": payload["event_id"],
                "source": self.source,
                "event_type": event_type,
                "payload": payload,
                "published": False,
                "seq": stamp + i,
                "created_at": now(),
            }
            for i, (event_type, payload) in enumerate(self.events)
        ]
        self.db.outbox.insert_many(self.outbox, session=self.session)


class Store:
    """A service's database with transactions, outbox relay and dead-letter publishing."""

    def __init__(self, client: MongoClient, db_name: str, source: str, amqp_uri: str, config: dict):
        self.client = client
        self.db = client[db_name]
        self.source = source
        self.amqp_uri = amqp_uri
        self.config = config
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self._wake = threading.Event()
        # outbox documents this process committed, for its relay to publish; bounded (a store
        # without a running relay never drains it: what falls off waits in the outbox for the
        # lease holder's look for leftovers)
        self._fresh: deque[dict] = deque(maxlen=FRESH_KEPT)
        # ids published and confirmed but still in the outbox, and since when (monotonic)
        self._sent: list[str] = []
        self._sent_since = 0.0
        self._running = False
        self._leases: dict[str, tuple[dt.datetime | None, dt.datetime | None]] = {}  # name → held until, look again at

    # -------------------------------------------------------------- transactions

    def transaction(self, fn: Callable[[UnitOfWork], Any], actor: dict | None = None) -> Any:
        """Run ``fn(uow)`` in a transaction with its outbox; retried on transient errors. The
        events it emits carry ``actor`` (who asked for the change), when given."""
        result: list[Any] = []
        attempts = [0]

        def callback(session):
            attempts[0] += 1
            uow = UnitOfWork(self.db, session, self.source, actor)
            value = fn(uow)
            uow._write_outbox()
            result[:] = [value, uow.outbox, uow.afterwards]

        with self.client.start_session() as session:
            try:
                session.with_transaction(callback)
            finally:
                if attempts[0] > 1:
                    RETRIES.labels(self.source).inc(attempts[0] - 1)
                    if attempts[0] >= 3:
                        log.warning("transaction %s ran %d times (write conflicts)", _name(fn), attempts[0])
        if result and result[1]:  # committed: this process publishes them at once
            self._fresh.extend(result[1])
            self._wake.set()
        for fn in result[2] if result else ():
            try:
                fn()
            except Exception:  # noqa: BLE001 - the transaction stands; what follows it is logged
                log.exception("after the commit of %s", _name(fn))
        return result[0] if result else None

    def ensure_outbox_indexes(self) -> None:
        self.db.outbox.create_index([("published", ASCENDING), ("seq", ASCENDING)])
        # earlier versions kept published events, marked; they are in the reporting archive
        self.db.outbox.delete_many({"published": True})
        # inbox uses _id (unique) only

    # -------------------------------------------------------------- relay

    def holds(self, name: str = "relay") -> bool:
        """Whether this process holds the lease ``name`` (one process of the service at a time:
        the relay's look for leftovers, a timer's sweep), writing to the database only to take it
        or to renew it once it is half spent; a process that sees another holder looks again no
        sooner than that lease ends or LEASE_LOOK_AGAIN passes (an idle system writes no lease
        at every poll). Leases live in ``outbox_lease``, one document per name."""
        moment = now()
        held_until, look_again = self._leases.get(name, (None, None))
        if held_until is not None and moment < held_until - LEASE / 2:
            return True
        if look_again is not None and moment < look_again:
            return False
        lease = self.db.outbox_lease.find_one({"_id": name})
        if lease and lease.get("holder") != self.holder and _aware(lease["until"]) > moment:
            self._leases[name] = (None, min(_aware(lease["until"]), moment + LEASE_LOOK_AGAIN))
            return False
        try:
            find_and_update(
                self.db.outbox_lease,
                {"_id": name, "$or": [{"until": {"$lt": moment}}, {"holder": self.holder}]},
                {"$set": {"holder": self.holder, "until": moment + LEASE}},
                upsert=True,
            )
        except DuplicateKeyError:  # taken between our look and our write
            self._leases[name] = (None, moment + LEASE_LOOK_AGAIN)
            return False
        self._leases[name] = (moment + LEASE, None)
        return True

    def release_leases(self) -> None:
        """Give up every lease this process holds (a clean stop: another takes over at once)."""
        held = [name for name, (until, _) in self._leases.items() if until is not None]
        self._leases.clear()
        try:
            if held:
                self.db.outbox_lease.delete_many({"_id": {"$in": held}, "holder": self.holder})
        except PyMongoError:
            pass

    def _publish(self, connection: Connection, docs: list[dict]) -> None:
        """Publish outbox documents in order, each confirmed by the broker; they are deleted
        afterwards, with others (``forget_sent``). For the embedded database a delete costs about
        a third of marking the document published (a rewrite of the document and of its index
        entry), and one delete of 50 documents about as much as five of one."""
        with producers[connection].acquire(block=True) as producer:
            for doc in docs:
                exchange = get_event_exchange(doc["source"], self.config)
                producer.publish(
                    doc["payload"],
                    exchange=exchange,
                    routing_key=doc["event_type"],
                    serializer="json",
                    delivery_mode=2,
                    declare=[exchange],
                    headers={"event_type": doc["event_type"], "source": doc["source"], **shard_headers(doc["payload"])},
                    retry=True,
                    retry_policy={"max_retries": 3},
                )
        if not self._sent:
            self._sent_since = time.monotonic()
        self._sent.extend(d["_id"] for d in docs)
        if len(self._sent) >= IN_AT_ONCE:
            self.forget_sent()

    def forget_sent(self, older_than: float = 0.0) -> int:
        """Delete from the outbox what this process has published, once the first of it has
        waited ``older_than`` seconds; what a failure leaves is tried again on the next call
        (and, if the process dies first, published again by the look for leftovers: a repeat
        that consumers drop)."""
        if not self._sent or time.monotonic() - self._sent_since < older_than:
            return 0
        deleted = 0
        while self._sent:
            ids = self._sent[:IN_AT_ONCE]
            self.db.outbox.delete_many({"_id": {"$in": ids}})
            del self._sent[: len(ids)]
            deleted += len(ids)
        return deleted

    def publish_fresh(self, connection: Connection) -> int:
        """Publish what this process committed since the last call; on failure they stay in the
        outbox, and the lease holder's look for leftovers publishes them later."""
        docs = []
        while self._fresh and len(docs) < RELAY_BATCH:
            docs.append(self._fresh.popleft())
        if docs:
            self._publish(connection, docs)
        return len(docs)

    def publish_pending(self, connection: Connection, older_than: dt.timedelta = LEFTOVER_AFTER) -> int:
        """Publish unpublished outbox events committed at least ``older_than`` ago, oldest first
        (under the relay lease); returns how many were published."""
        if not self.holds("relay"):
            return 0
        sent = 0
        while True:
            self.forget_sent()  # what was published is not looked at again
            settled = time.time_ns() - int(older_than.total_seconds() * 1e9)
            batch = list(
                self.db.outbox.find({"published": False, "seq": {"$lt": settled}})
                .sort("seq", ASCENDING)
                .limit(RELAY_BATCH)
            )
            if not batch:
                return sent
            self._publish(connection, batch)
            sent += len(batch)
            if len(batch) < RELAY_BATCH:
                self.forget_sent()
                return sent

    def relay_forever(self, interval: float = LEFTOVER_POLL_SECONDS) -> None:
        """Publish what this process commits as it commits it, and look for leftovers every
        ``interval`` seconds. While the broker or the database is away the events stay in the
        outbox and the relay tries again every second, for as long as it runs."""
        self._running = True
        self._connection = _confirming(self.amqp_uri)
        self._looked = 0.0
        try:
            retrying(Exception, attempts=None, wait=1.0, while_=lambda: self._running, before_again=self._relay_failed)(
                self._relay, interval
            )
        except Exception:  # noqa: BLE001 - failed as it was being stopped: what is left stays in the outbox
            log.warning("outbox relay stopped after a failure", exc_info=True)
        finally:
            self._connection.release()
            try:
                self.forget_sent()
            except PyMongoError:
                log.warning("outbox: %d published events left to delete", len(self._sent))

    def _relay(self, interval: float) -> None:
        while self._running:
            self._wake.wait(interval)
            self._wake.clear()
            while self.publish_fresh(self._connection):
                pass
            self.forget_sent(SENT_KEPT)
            if time.monotonic() - self._looked >= interval:
                self._looked = time.monotonic()
                self.publish_pending(self._connection)

    def _relay_failed(self, err: BaseException, tries: int) -> None:
        """The broker or the database is away: the events are kept, the connection made anew."""
        log.error("outbox relay failed; retrying", exc_info=err)
        self._fresh.clear()  # still in the outbox: the look for leftovers takes them
        self._connection.release()
        self._connection = _confirming(self.amqp_uri)

    def stop_relay(self) -> None:
        self._running = False
        self._wake.set()

    # -------------------------------------------------------------- dead letters

    def dead_letter(self, *, body: Any, reason: str, consumer: str, source: str, event_type: str) -> None:
        """Park a message that cannot be handled, with the reason, for inspection and replay."""
        publish_dead_letter(self.amqp_uri, body, reason=reason, consumer=consumer, source=source, event_type=event_type)


def publish_dead_letter(
    amqp_uri: str,
    body: Any,
    *,
    reason: str,
    consumer: str,
    source: str,
    event_type: str,
    raw: bool = False,
    content_type: str | None = None,
) -> None:
    """Publish to the durable dead-letter queue; ``raw`` bodies (undecodable) go as they came."""
    exchange = Exchange(DEAD_LETTER_EXCHANGE, type="topic", durable=True)
    queue = Queue(DEAD_LETTER_QUEUE, exchange=exchange, routing_key="#", durable=True)
    log.error("dead-lettering %s.%s for %s: %s", source, event_type, consumer, reason)
    # an undecodable body travels as opaque bytes; its original type rides in a header
    encoding = (
        {"content_type": "application/octet-stream", "content_encoding": "binary"} if raw else {"serializer": "json"}
    )
    with _confirming(amqp_uri) as conn:
        with producers[conn].acquire(block=True) as producer:
            producer.publish(
                body,
                exchange=exchange,
                routing_key=f"{consumer}.{source}.{event_type}",
                delivery_mode=2,
                declare=[exchange, queue],
                headers={
                    "reason": reason[:2000],
                    "consumer": consumer,
                    "source": source,
                    "event_type": event_type,
                    "failed_at": now().isoformat(),
                    **({"original_content_type": content_type or ""} if raw else {}),
                },
                retry=True,
                **encoding,
            )


def _name(fn: Callable) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


class MongoStore(DependencyProvider):
    """Hands each worker the service's ``Store``; runs the outbox relay beside the service.

    ``indexes(db)`` creates the service's indexes at start-up: every query path has one.
    """

    def __init__(self, db_name: str, indexes: Callable | None = None, relay: bool = True):
        self.db_name = db_name
        self.indexes = indexes
        self.relay = relay
        self.store: Store | None = None

    def setup(self):
        config = self.container.config
        client = MongoClient(
            setting(config, "MONGO_URI"),
            tz_aware=True,
            serverSelectionTimeoutMS=setting(config, "MONGO_TIMEOUT_MS"),
        )
        db_name = f"{setting(config, 'DB_PREFIX')}{self.db_name}"
        self.store = Store(client, db_name, self.container.service_name, setting(config, "AMQP_URI"), config)
        self.store.ensure_outbox_indexes()
        if self.indexes:
            self.indexes(self.store.db)

    def start(self):
        if self.relay:
            self.container.spawn_managed_thread(self.store.relay_forever, identifier="outbox_relay")

    def stop(self):
        if self.store:
            self.store.stop_relay()
            self.store.release_leases()

    def kill(self):
        self.stop()

    def get_dependency(self, worker_ctx):
        actor = worker_ctx.data.get("actor")
        return Acting(self.store, actor) if isinstance(actor, dict) else self.store


class Acting:
    """The service's store as a worker sees it when a signed-in person's request started the work:
    every transaction's events say who (the gateway puts ``actor`` in the context data that nameko
    sends with each RPC, and with the RPCs a service makes in turn)."""

    def __init__(self, store: Store, actor: dict):
        self._store = store
        self.actor = actor

    def __getattr__(self, name: str):
        return getattr(self._store, name)

    def transaction(self, fn: Callable[[UnitOfWork], Any], actor: dict | None = None) -> Any:
        return self._store.transaction(fn, actor=actor or self.actor)
