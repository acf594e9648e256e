"""Queues one process takes at a time (common.batching.one_process), on the real broker: the
single-active-consumer copies replace an earlier version's queues without losing what waited in
them, and of two processes one takes every queue while the other stands by."""

from __future__ import annotations

from kombu import Connection
from nameko.dependency_providers import Config

from common.batching import ONE_PROCESS_SUFFIX, batch_consume, event_queue, one_process
from common.consuming import STANDBY_AFTER
from contracts.base import new_id
from tests.helpers import publish_event, wait_until

TAKEN: list[tuple[str, str]] = []  # (process index, event id)
KINDS = (("orders", "order_placed"), ("orders", "order_cancelled"))


def _queues(config):
    return [event_queue(config, s, t, f"evt-{s}-{t}--onecheck.take") for s, t in KINDS]


class OneCheck:
    name = "onecheck"
    config = Config()

    @batch_consume(standby=one_process(_queues), max_batch=50, max_wait=0.05)
    def take(self, bodies):
        index = self.config.get("PROCESS_INDEX", "")
        TAKEN.extend((index, b["event_id"]) for b in bodies)


def _send(config, n: int) -> list[str]:
    ids = [new_id() for _ in range(n)]
    for k, event_id in enumerate(ids):
        _, event_type = KINDS[k % 2]
        publish_event(config, "orders", event_type, raw={"event_id": event_id, "order_id": f"o{k}"})
    return ids


def _exists(config, name: str) -> bool:
    with Connection(config["AMQP_URI"]) as conn:
        try:
            conn.channel().queue_declare(name, passive=True)
            return True
        except Exception:  # noqa: BLE001 - 404
            return False


def _consumers(rabbit_manager, vhost, name) -> tuple[int, int]:
    details = rabbit_manager.get_queue(vhost, name).get("consumer_details") or []
    seen = {(d["channel_details"]["name"], d["consumer_tag"]): d["active"] for d in details}
    return sum(seen.values()), len(seen) - sum(seen.values())


def test_the_copies_replace_the_old_queues_without_losing_what_waited_and_one_process_takes_them(
    container_factory, service_config, rabbit_manager, rabbit_config, monkeypatch
):
    monkeypatch.delenv("PROCESS_INDEX", raising=False)
    vhost = rabbit_config["vhost"]
    TAKEN.clear()
    # an earlier version's queues, with events waiting in them
    with Connection(service_config["AMQP_URI"]) as conn:
        for queue in _queues(service_config):
            queue(conn.channel()).declare()
    waiting = _send(service_config, 10)

    first = container_factory(OneCheck, {**service_config, "PROCESSES": "2", "PROCESS_INDEX": "0"})
    second = container_factory(OneCheck, {**service_config, "PROCESSES": "2", "PROCESS_INDEX": "1"})
    first.start()
    second.start()
    wait_until(lambda: len(TAKEN) >= 10, what="what waited in the old queues")
    later = _send(service_config, 20)
    wait_until(lambda: len(TAKEN) >= 30, what="the new events")
    assert sorted(e for _, e in TAKEN) == sorted(waiting + later)  # each once, none lost
    assert {i for i, e in TAKEN if e in later} == {"0"}  # process 0 takes them all
    for source, event_type in KINDS:
        name = f"evt-{source}-{event_type}--onecheck.take"
        wait_until(
            lambda n=name: _consumers(rabbit_manager, vhost, n + ONE_PROCESS_SUFFIX) == (1, 1),
            timeout=STANDBY_AFTER + 15,
            what="one process taking, the other standing by",
        )
        # the old queue took nothing new: unbound at the start, deleted once it was empty
        # (by the process that started after the first had drained it, or at the next start)
        if _exists(service_config, name):
            assert not [b for b in rabbit_manager.get_queue_bindings(vhost, name) if b["source"] == "orders.events"]

    # process 0 stops: the other takes over every queue
    first.stop()
    rest = _send(service_config, 6)
    wait_until(lambda: len(TAKEN) >= 36, what="the events after the stop")
    assert {i for i, e in TAKEN if e in rest} == {"1"}
    second.stop()
    assert sorted(e for _, e in TAKEN) == sorted(waiting + later + rest)
    again = container_factory(OneCheck, {**service_config, "PROCESSES": "2", "PROCESS_INDEX": "0"})
    again.start()  # nobody left on the drained old queues: deleted
    assert not any(_exists(service_config, f"evt-{s}-{t}--onecheck.take") for s, t in KINDS)
    again.stop()
