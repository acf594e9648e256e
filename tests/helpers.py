"""Test helpers that talk to the real broker: publish an event, watch the bus, wait."""

from __future__ import annotations

import time
import uuid
from typing import Callable

from kombu import Connection, Exchange, Queue
from nameko.standalone.events import get_event_exchange

from common.sharding import shard_headers
from contracts.base import new_id, now
from contracts.events import dump_event, spec


def publish_event(config: dict, source: str, event_type: str, raw: dict | None = None, **data) -> dict:
    """Publish an event the way a service's outbox relay does (or a raw payload as given)."""
    if raw is None:
        data.setdefault("event_id", new_id())
        data.setdefault("occurred_at", now().isoformat())
        loaded = spec(source, event_type).schema().load({**data, "version": spec(source, event_type).version})
        payload = dump_event(source, event_type, loaded)
    else:
        payload = raw
    exchange = get_event_exchange(source, config)
    with Connection(config["AMQP_URI"]) as conn:
        conn.Producer().publish(
            payload,
            exchange=exchange,
            routing_key=event_type,
            serializer="json",
            delivery_mode=2,
            declare=[exchange],
            headers=shard_headers(payload),
        )
    return payload


class BusSpy:
    """A queue bound to every service's event exchange: what was published, in order."""

    def __init__(self, config: dict, sources=("orders", "dispatch", "feedback")):
        self.conn = Connection(config["AMQP_URI"])
        self.queue = Queue(
            f"spy-{uuid.uuid4().hex[:8]}",
            bindings=[],
            auto_delete=True,
        )
        channel = self.conn.channel()
        self.queue = self.queue(channel)
        self.queue.declare()
        for source in sources:
            exchange = get_event_exchange(source, config)(channel)
            exchange.declare()
            self.queue.bind_to(exchange=exchange, routing_key="#")
        self.events: list[tuple[str, str, dict]] = []

    def drain(self) -> list[tuple[str, str, dict]]:
        while True:
            message = self.queue.get(no_ack=True)
            if message is None:
                return self.events
            source = message.delivery_info["exchange"].removesuffix(".events")
            self.events.append((source, message.delivery_info["routing_key"], message.decode()))

    def types(self) -> list[str]:
        return [f"{s}.{t}" for s, t, _ in self.drain()]

    def wait_for(self, source: str, event_type: str, count: int = 1, timeout: float = 20) -> list[dict]:
        deadline = time.time() + timeout
        while True:
            found = [p for s, t, p in self.drain() if s == source and t == event_type]
            if len(found) >= count:
                return found
            if time.time() > deadline:
                raise AssertionError(f"{source}.{event_type} x{count} not seen in {timeout}s; saw {self.types()}")
            time.sleep(0.05)

    def close(self) -> None:
        try:
            self.queue.delete()
        except Exception:
            pass
        self.conn.release()


def dead_letters(config: dict) -> list[tuple[dict, dict]]:
    """Read (without losing) what is in the dead-letter queue: (headers, body) pairs."""
    from common.store import DEAD_LETTER_EXCHANGE, DEAD_LETTER_QUEUE

    out = []
    with Connection(config["AMQP_URI"]) as conn:
        channel = conn.channel()
        exchange = Exchange(DEAD_LETTER_EXCHANGE, type="topic", durable=True)(channel)
        exchange.declare()
        queue = Queue(DEAD_LETTER_QUEUE, exchange=exchange, routing_key="#", durable=True)(channel)
        queue.declare()
        messages = []
        while True:
            message = queue.get(no_ack=False)
            if message is None:
                break
            messages.append(message)
            out.append((message.headers, message.decode()))
        for message in messages:
            message.requeue()
    return out


def wait_until(predicate: Callable[[], object], timeout: float = 20, interval: float = 0.05, what: str = ""):
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(interval)


def publish_raw(config: dict, source: str, event_type: str, body: bytes) -> None:
    """Publish bytes that are not even JSON, as a broken publisher might."""
    exchange = get_event_exchange(source, config)
    with Connection(config["AMQP_URI"]) as conn:
        conn.Producer().publish(
            body,
            exchange=exchange,
            routing_key=event_type,
            content_type="application/json",
            content_encoding="binary",
            declare=[exchange],
        )


def assert_bad_events_are_dead_lettered(config: dict, source: str, event_type: str) -> list[str]:
    """A schema failure, an unknown version and an undecodable body, each parked with its reason."""
    publish_event(config, source, event_type, raw={"event_id": "bad-1", "version": 1, "order_id": {"$gt": ""}})
    publish_event(config, source, event_type, raw={"event_id": "bad-2", "version": 42})
    publish_raw(config, source, event_type, b"\xff\xfe not json")
    letters = wait_until(
        lambda: len(dead_letters(config)) >= 3 and dead_letters(config), timeout=30, what="three dead letters"
    )
    reasons = [headers["reason"] for headers, _ in letters]
    assert any(r.startswith("contract:") and "order_id" in r for r in reasons), reasons
    assert any("version 42" in r for r in reasons), reasons
    assert any(r.startswith("undecodable") for r in reasons), reasons
    return reasons


def signed_in(base: str, username: str, password: str):
    """A requests session that sends the bearer token of ``username``'s sign-in."""
    import requests

    session = requests.Session()
    r = session.post(f"{base}/api/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    session.headers["Authorization"] = f"Bearer {r.json()['token']}"
    return session
