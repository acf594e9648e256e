"""Inspect and replay dead letters (`make dlq`, `make dlq ARGS="replay 3 5"`).

list            show every dead letter: number, consumer, event, reason (nothing is removed)
replay N [N…]   republish the chosen letters to their event exchange and remove them;
                consumers that handled the event before skip it (inbox), the others retry it
replay all      the same for every letter
drop N [N…]     remove letters after reading them
"""

from __future__ import annotations

import json
import os
import sys

from kombu import Connection, Exchange, Queue
from nameko.standalone.events import get_event_exchange

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from common.config import setting  # noqa: E402
from common.sharding import shard_headers  # noqa: E402
from common.store import DEAD_LETTER_EXCHANGE, DEAD_LETTER_QUEUE  # noqa: E402


def main(argv: list[str]) -> int:
    uri = setting(None, "AMQP_URI")
    command = argv[0] if argv else "list"
    chosen = set(argv[1:])
    with Connection(uri) as conn:
        channel = conn.channel()
        exchange = Exchange(DEAD_LETTER_EXCHANGE, type="topic", durable=True)(channel)
        exchange.declare()
        queue = Queue(DEAD_LETTER_QUEUE, exchange=exchange, routing_key="#", durable=True)(channel)
        queue.declare()
        messages = []
        while (message := queue.get(no_ack=False)) is not None:
            messages.append(message)
        if not messages:
            print("no dead letters")
            return 0
        producer = conn.Producer(channel)
        for number, message in enumerate(messages, 1):
            h = message.headers or {}
            picked = "all" in chosen or str(number) in chosen
            if command == "list" or not picked:
                if command == "list":
                    body = json.dumps(message.decode(), ensure_ascii=False)[:300]
                    print(
                        f"#{number} {h.get('failed_at', '')} {h.get('consumer')} ← {h.get('source')}.{h.get('event_type')}"
                    )
                    print(f"    reason: {h.get('reason')}")
                    print(f"    body:   {body}")
                message.requeue()
            elif command == "replay":
                target = get_event_exchange(h["source"], {})
                try:  # a palace's event goes back to its shard (common/sharding.py)
                    stamp = shard_headers(message.decode())
                except Exception:  # noqa: BLE001 - an undecodable body has no shard
                    stamp = {}
                producer.publish(
                    message.body,
                    exchange=target,
                    routing_key=h["event_type"],
                    content_type=h.get("original_content_type") or message.content_type,
                    content_encoding=message.content_encoding,
                    delivery_mode=2,
                    declare=[target],
                    headers=stamp,
                )
                message.ack()
                print(f"replayed #{number} {h.get('source')}.{h.get('event_type')}")
            elif command == "drop":
                message.ack()
                print(f"dropped #{number}")
            else:
                message.requeue()
                print(__doc__)
                return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
