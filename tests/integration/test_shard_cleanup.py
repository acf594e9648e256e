"""scripts/shard_cleanup.py on the real broker, in a test vhost: the per-event queues an earlier
version declared for handlers now on shards are deleted when empty, their messages moved to the
shard queue of their key first, and a queue still consumed (an earlier version running) or whose
shard exchange does not exist yet is left alone."""

from __future__ import annotations

import collections

import pytest
from amqp.exceptions import NotFound
from kombu import Connection, Exchange, Queue

from common.consuming import by_shard, consumes
from common.sharding import SHARDS, shard_of
from scripts.shard_cleanup import clean, old_queues
from tests.helpers import wait_until
from tests.integration.conftest import accepted


class Upgraded:
    """A service whose order handlers were entrypoints of their own and are now on shards."""

    name = "cleanupcheck"

    @by_shard("orders", ("order_accepted", "order_amended", "order_cancelled"))
    def on_palace_event(self, event_type, payload):
        return getattr(self, f"handle_{event_type}")(payload)

    @consumes("orders", "order_accepted", entrypoint=False)
    def handle_order_accepted(self, event, uow):
        pass

    @consumes("orders", "order_amended", entrypoint=False)
    def handle_order_amended(self, event, uow):
        pass

    @consumes("orders", "order_cancelled", entrypoint=False)
    def handle_order_cancelled(self, event, uow):
        pass


def _old_queue(channel, event_type: str) -> Queue:
    """As nameko's event handler declared it for an earlier version (a quorum queue)."""
    queue = Queue(
        f"evt-orders-{event_type}--cleanupcheck.handle_{event_type}",
        exchange=Exchange("orders.events", type="topic", durable=True),
        routing_key=event_type,
        durable=True,
        queue_arguments={"x-queue-type": "quorum"},
    )(channel)
    queue.declare()
    return queue


def _count(conn, name: str) -> int | None:
    channel = conn.channel()
    try:
        return channel.queue_declare(name, passive=True).message_count
    except NotFound:
        return None
    finally:
        if channel.is_open:
            channel.close()


def test_the_old_queues_of_sharded_handlers_are_named_from_the_service():
    assert old_queues(Upgraded) == {
        f"evt-orders-{t}--cleanupcheck.handle_{t}": ("orders", t, "cleanupcheck.orders.shards")
        for t in ("order_accepted", "order_amended", "order_cancelled")
    }


@pytest.mark.usefixtures("rabbit_config")
def test_old_queues_are_emptied_into_the_shards_then_deleted(container_factory, service_config, monkeypatch):
    monkeypatch.delenv("PROCESS_INDEX", raising=False)
    uri = service_config["AMQP_URI"]
    said: list[str] = []
    palaces = ["haining", "haining-2", "haining-3"]
    with Connection(uri) as conn:
        channel = conn.channel()
        for event_type in ("order_accepted", "order_amended", "order_cancelled"):
            _old_queue(channel, event_type)
        # events published before the upgrade wait in the old queue
        for n, palace in enumerate(palaces):
            accepted(service_config, f"o{n}", palace_id=palace)
        raw = conn.connection
        wait_until(lambda: _count(raw, "evt-orders-order_accepted--cleanupcheck.handle_order_accepted") == 3)

        # before the new version ever started there is no shard exchange (nothing else takes
        # these events): every old queue stays, the messages in it too
        rows = clean(uri, [Upgraded], say=said.append)
        assert [(r["kept"], r["deleted"]) for r in rows] == [("no shard exchange", False)] * 3
        assert _count(raw, "evt-orders-order_accepted--cleanupcheck.handle_order_accepted") == 3

        container = container_factory(Upgraded, service_config)
        container.start()
        container.stop()  # the shard queues now exist; nobody takes from them during the clean-up

        # an earlier version's process still takes the amended queue: left alone
        busy = Connection(uri)
        consumer = busy.Consumer(
            Queue("evt-orders-order_amended--cleanupcheck.handle_order_amended", no_declare=True),
            callbacks=[lambda body, message: None],
        )
        consumer.consume()
        try:
            rows = {r["queue"]: r for r in clean(uri, [Upgraded], say=said.append)}
        finally:
            consumer.cancel()
            busy.release()
        amended = rows["evt-orders-order_amended--cleanupcheck.handle_order_amended"]
        assert amended["kept"] == "consumed" and amended["consumers"] == 1
        assert _count(raw, amended["queue"]) == 0

        moved = rows["evt-orders-order_accepted--cleanupcheck.handle_order_accepted"]
        assert moved["moved"] == 3 and moved["deleted"]
        assert _count(raw, moved["queue"]) is None
        assert rows["evt-orders-order_cancelled--cleanupcheck.handle_order_cancelled"]["deleted"]
        assert _count(raw, "evt-orders-order_cancelled--cleanupcheck.handle_order_cancelled") is None
        shards = {f"{k:02d}": _count(raw, f"cleanupcheck-orders-shard-{k:02d}") for k in range(SHARDS)}
        assert {k: n for k, n in shards.items() if n} == dict(collections.Counter(shard_of(p) for p in palaces))

        # once nobody takes it, the amended queue goes too; nothing is left to clean
        rows = clean(uri, [Upgraded], say=said.append)
        assert [(r["queue"], r["deleted"]) for r in rows] == [(amended["queue"], True)]
        assert clean(uri, [Upgraded], say=said.append) == []
    assert any("left alone" in line for line in said)
