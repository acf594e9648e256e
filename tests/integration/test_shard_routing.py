"""On the real broker: a shard queue gets its own keys' events only, each event reaches one shard,
and the binding earlier versions made on ``x-palace-shard`` (which RabbitMQ's headers exchange
leaves out of the match, so it took every event into every shard) is gone once a process starts."""

from __future__ import annotations

import collections
import time

from kombu import Connection, Exchange, Queue

from common.consuming import by_shard
from common.sharding import SHARDS, shard_of
from contracts.base import new_id
from tests.helpers import publish_event, wait_until
from tests.integration.conftest import accepted

SEEN: list[tuple[str, str, str]] = []  # (entrypoint, event id, key)


class ShardedService:
    name = "shardcheck"

    @by_shard("orders", ("order_accepted", "order_cancelled"))
    def on_palace(self, event_type, payload):
        SEEN.append(("palace", payload["event_id"], payload["palace_id"]))

    @by_shard({"orders": ("order_accepted",), "dispatch": ("order_scheduled",)}, key="order_id")
    def on_order(self, source, event_type, payload):
        SEEN.append((f"order from {source}", payload["event_id"], payload["order_id"]))


def _accepted(config, palace: str, order: str):
    accepted(config, order, palace_id=palace)
    # from another source, about the same order: the same order shard (no schema: none is loaded)
    publish_event(config, "dispatch", "order_scheduled", raw={"event_id": new_id(), "order_id": order})


def _counts(config, stem: str) -> dict[str, int]:
    with Connection(config["AMQP_URI"]) as conn:
        channel = conn.channel()
        return {
            f"{k:02d}": channel.queue_declare(f"{stem}-shard-{k:02d}", passive=True).message_count
            for k in range(SHARDS)
        }


def test_each_event_reaches_the_one_shard_of_its_key(container_factory, service_config, monkeypatch):
    monkeypatch.delenv("PROCESS_INDEX", raising=False)
    SEEN.clear()
    # a queue of an earlier version, bound on the header the exchange leaves out of the match
    with Connection(service_config["AMQP_URI"]) as conn:
        channel = conn.channel()
        shards = Exchange(
            "shardcheck.orders.shards",
            type="headers",
            durable=True,
            arguments={"alternate-exchange": "shardcheck.orders.shards.unsharded"},
        )(channel)
        shards.declare()
        Queue(
            "shardcheck-orders-shard-03",
            exchange=shards,
            durable=True,
            queue_arguments={"x-queue-type": "quorum", "x-single-active-consumer": True},
            binding_arguments={"x-match": "all", "x-palace-shard": "03"},
        )(channel).declare()

    container = container_factory(ShardedService, service_config)
    container.start()
    palaces = [f"palace-{k}" for k in range(8)]
    orders = [f"order-{k}" for k in range(24)]
    for n, order in enumerate(orders):
        _accepted(service_config, palaces[n % len(palaces)], order)
    wait_until(lambda: len(SEEN) >= 3 * len(orders), what="every event in both kinds of shard")
    time.sleep(1.0)  # copies of an event, were there any, arrive meanwhile
    container.stop()
    times = collections.Counter(SEEN)
    assert set(times.values()) == {1}, [k for k, n in times.items() if n > 1][:5]
    for source in ("orders", "dispatch"):  # each told where it came from
        assert sorted(k for kind, _, k in SEEN if kind == f"order from {source}") == sorted(orders)
    assert {k for kind, _, k in SEEN if kind == "palace"} == set(palaces)  # the palaces' are from orders only

    # with nobody consuming, each shard queue holds exactly the events of its keys
    for n, order in enumerate(orders):
        _accepted(service_config, palaces[n % len(palaces)], order)
    by_palace = collections.Counter(shard_of(palaces[n % len(palaces)]) for n in range(len(orders)))
    by_order = collections.Counter(shard_of(o) for o in orders for _source in ("orders", "dispatch"))
    wait_until(lambda: sum(_counts(service_config, "shardcheck-orders").values()) >= len(orders), what="palaces")
    wait_until(lambda: sum(_counts(service_config, "shardcheck-order").values()) >= 2 * len(orders), what="orders")
    assert {k: n for k, n in _counts(service_config, "shardcheck-orders").items() if n} == dict(by_palace)
    assert {k: n for k, n in _counts(service_config, "shardcheck-order").items() if n} == dict(by_order)
