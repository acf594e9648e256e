"""Remove the per-event queues earlier versions declared for handlers that now take their events
from keyed shards (dispatch's order events, notifications' order events; ``common.consuming.by_shard``).

Such a queue (``evt-orders-order_accepted--dispatch.handle_order_accepted``) stays bound to its
source's event exchange after the upgrade, so it keeps filling with events nobody takes. For each
one found in the vhost:

- still consumed (a process of an earlier version is running): left alone, and said so;
- the service's shard exchange not there yet (the new version never started, so nothing takes
  these events anywhere else): left alone, messages and all;
- otherwise it is unbound from its source's event exchange (nothing new comes in), each message
  in it is moved to the shard exchange (stamped with its key's shard, so it lands in the one shard
  queue of its palace or order; the handlers' inbox drops an event handled before), with a broker
  confirm before it is taken out of the old queue, and the queue, now empty and unbound, is deleted
  (quorum queues refuse the if-empty and if-unused flags: the counts are read just before).

Usage: python -m scripts.shard_cleanup [--dry-run] [SERVICE …]   (AMQP_URI from the environment)
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys

from amqp import Message
from amqp.exceptions import NotFound
from kombu import Connection

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from common.config import setting  # noqa: E402
from common.consuming import ShardHandler, shard_exchange_name  # noqa: E402
from common.sharding import shard_headers  # noqa: E402


def old_queues(service_cls) -> dict[str, tuple[str, str, str]]:
    """The per-event queue each sharded handler of the service had, and where its events go now:
    ``{old queue: (source, event type, shard exchange)}``."""
    service = service_cls.name
    keys: dict[tuple[str, str], str] = {}  # (source, event type) → the shard exchange it goes to
    for attr in vars(service_cls).values():
        for entry in getattr(attr, "nameko_entrypoints", ()):
            if isinstance(entry, ShardHandler):
                for source, event_types in entry.sources.items():
                    for event_type in event_types:
                        keys[(source, event_type)] = shard_exchange_name(service, entry.sources, entry.key)
    found = {}
    for name, attr in vars(service_cls).items():
        consumed = getattr(attr, "consumed", None)
        if consumed is None or getattr(attr, "nameko_entrypoints", None) or consumed not in keys:
            continue
        source, event_type = consumed
        found[f"evt-{source}-{event_type}--{service}.{name}"] = (source, event_type, keys[consumed])
    return found


def _exists(conn, kind: str, name: str):
    """``(messages, consumers)`` of a queue, True for an exchange; None when it is not there."""
    channel = conn.channel()
    try:
        if kind == "queue":
            _, messages, consumers = channel.queue_declare(name, passive=True)
            return messages, consumers
        channel.exchange_declare(name, "headers", passive=True)
        return True
    except NotFound:
        return None
    finally:
        if channel.is_open:
            channel.close()


def _move(conn, queue: str, exchange: str, event_type: str) -> int:
    """Every message of ``queue`` republished to ``exchange`` with its shard headers, each taken
    out of the queue only once the broker confirmed it."""
    moved = 0
    channel = conn.channel()
    try:
        while (message := channel.basic_get(queue, no_ack=False)) is not None:
            try:
                payload = json.loads(message.body)
            except (TypeError, ValueError):
                payload = None  # undecodable: no shard; the shard exchange routes it to shard 00
            properties = {k: v for k, v in message.properties.items() if k != "application_headers"}
            headers = {**(message.properties.get("application_headers") or {}), **shard_headers(payload)}
            routing_key = (message.delivery_info or {}).get("routing_key") or event_type
            channel.basic_publish_confirm(
                Message(message.body, application_headers=headers, **properties),
                exchange=exchange,
                routing_key=routing_key,
            )
            channel.basic_ack(message.delivery_tag)
            moved += 1
    finally:
        channel.close()
    return moved


def clean(amqp_uri: str, service_classes, dry_run: bool = False, say=print) -> list[dict]:
    """Clean up the old queues of ``service_classes`` in the vhost of ``amqp_uri``; what happened
    to each, one row per queue found."""
    done = []
    with Connection(amqp_uri) as kombu_conn:
        conn = kombu_conn.connection  # the py-amqp connection: passive declares, gets, confirms
        for service_cls in service_classes:
            for queue, (source, event_type, exchange) in old_queues(service_cls).items():
                state = _exists(conn, "queue", queue)
                if state is None:
                    continue
                messages, consumers = state
                row = {"queue": queue, "messages": messages, "consumers": consumers, "moved": 0, "deleted": False}
                done.append(row)
                if consumers:
                    row["kept"] = "consumed"
                    say(f"{queue}: {consumers} consumer(s) still take it (an earlier version runs): left alone")
                    continue
                if _exists(conn, "exchange", exchange) is None:
                    row["kept"] = "no shard exchange"
                    say(f"{queue}: {messages} message(s) and no {exchange} yet (start the service once): left alone")
                    continue
                if dry_run:
                    say(f"{queue}: {messages} message(s); would move them to {exchange} and delete the queue")
                    continue
                channel = conn.channel()
                try:
                    channel.queue_unbind(queue, f"{source}.events", event_type)
                finally:
                    channel.close()
                row["moved"] = _move(conn, queue, exchange, event_type)
                if row["moved"]:
                    say(f"{queue}: moved {row['moved']} message(s) to {exchange}")
                messages, consumers = _exists(conn, "queue", queue)
                if messages or consumers:  # a consumer came meanwhile: it takes them
                    row["kept"] = f"{messages} message(s), {consumers} consumer(s) after the move"
                    say(f"{queue}: {row['kept']}: left alone (unbound)")
                    continue
                channel = conn.channel()
                try:
                    channel.queue_delete(queue)
                    row["deleted"] = True
                    say(f"{queue}: deleted")
                finally:
                    if channel.is_open:
                        channel.close()
    return done


def main(argv=None) -> list[dict]:
    from scripts.service import TARGETS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("services", nargs="*", default=["dispatch", "notifications"])
    parser.add_argument("--dry-run", action="store_true", help="say what would happen, change nothing")
    args = parser.parse_args(argv)
    classes = []
    for name in args.services:
        module, cls = TARGETS[name].split(":")
        classes.append(getattr(importlib.import_module(module), cls))
    rows = clean(setting(None, "AMQP_URI"), classes, dry_run=args.dry_run)
    if not rows:
        print("no old per-event queue of a sharded handler in this vhost")
    return rows


if __name__ == "__main__":
    main()
