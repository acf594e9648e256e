"""A queue consumer that hands a service method a batch of messages at a time.

``@batch_consume(queue, max_batch=200, max_wait=0.05)`` takes up to ``max_batch`` messages, or
what arrived within ``max_wait`` seconds of the first, and calls the method once with their
bodies. The messages are acknowledged only after the method returned, so a batch the method
could not finish (the database away, the process killed) is delivered again; the method must
make a repeat harmless. A method that raises gets the batch back after a pause (requeued),
never dropped. Bodies the method cannot use it dead-letters itself; a body that cannot even be
decoded is dead-lettered here, as it came.

``queue`` is a kombu Queue or a list of them, or a function of the service's config that returns
either (for queues on nameko's event exchanges, which depend on the config): one connection
consumes them all. With ``routed=True`` the method gets ``(exchange, routing_key, body)`` for
each message, so one batch can hold several kinds of events.

With ``standby`` (a function of the service's config that returns ``(first, later)`` lists of
queues) the consumer subscribes to ``first`` at once and to ``later`` ``STANDBY_AFTER`` seconds
after (again on each reconnection): on single-active-consumer queues each process then takes its
own share first and stands by for the others', taking over one when its holder goes.
``one_process(queues)`` makes such a function for queues that one process should take at a time
(an archive's: batches stay as large as with one process, instead of each of N processes taking
every Nth message and writing N times as many smaller batches).
"""

from __future__ import annotations

import logging
import socket
import time

from eventlet.event import Event
from kombu import Connection, Consumer, Queue
from nameko.extensions import Entrypoint

from common.config import setting
from common.consuming import STANDBY_AFTER
from common.retry import retrying
from common.store import publish_dead_letter

log = logging.getLogger(__name__)


IDLE_WAIT = 1.0  # seconds an idle batch consumer waits for a message before it looks around


class BatchConsumer(Entrypoint):
    def __init__(
        self, queue=None, max_batch: int = 200, max_wait: float = 0.05, routed: bool = False, standby=None, **kwargs
    ):
        self.queue = queue
        self.standby = standby
        self.queues: list[Queue] = []
        self.later: list[Queue] = []
        self.routed = routed
        self.max_batch = max_batch
        self.max_wait = max_wait
        self._running = False
        self._gt = None
        super().__init__(**kwargs)

    def setup(self):
        self.amqp_uri = setting(self.container.config, "AMQP_URI")
        if self.standby is not None:
            first, later = self.standby(self.container.config)
            self.queues, self.later = list(first), list(later)
        else:
            queues = self.queue if isinstance(self.queue, (Queue, list)) else self.queue(self.container.config)
            self.queues = [queues] if isinstance(queues, Queue) else list(queues)
        self.label = self.queues[0].name + (f" and {len(self.queues) - 1} more" if len(self.queues) > 1 else "")

    def start(self):
        # the queues exist once the service has started, as with nameko's own consumers: an
        # event published from then on waits in them even before the first batch is taken
        with Connection(self.amqp_uri) as conn:
            channel = conn.channel()
            for queue in self.queues + self.later:
                if not getattr(queue, "retired", False):
                    queue(channel).declare()
            self.queues = [q for q in self.queues if not getattr(q, "retired", False) or _retire(conn, q)]
        self._running = True
        self._gt = self.container.spawn_managed_thread(self._run, identifier=f"batch_consume:{self.label}")

    def stop(self):
        self._running = False
        if self._gt is not None:
            self._gt.wait()

    def kill(self):
        self._running = False
        if self._gt is not None:
            self._gt.kill()

    # ------------------------------------------------------------------ loop

    def _run(self):
        """Consume until stopped; when the broker goes away, connect again every second (the
        unacknowledged messages come back to the queue)."""

        def lost(err: BaseException, tries: int) -> None:
            log.error("batch consumer on %s lost its connection; reconnecting", self.label, exc_info=err)

        try:
            retrying(Exception, attempts=None, wait=1.0, while_=lambda: self._running, before_again=lost)(self._consume)
        except Exception:  # noqa: BLE001 - lost as it was being stopped
            log.warning("batch consumer on %s stopped after a failure", self.label, exc_info=True)

    def _consume(self):
        pending: list = []
        with Connection(self.amqp_uri, heartbeat=30) as conn:
            channel = conn.channel()
            queues = [queue(channel) for queue in self.queues]  # bound copies lose `retired`
            for queue, unbound in zip(queues, self.queues, strict=True):
                if getattr(unbound, "retired", False):
                    queue.queue_declare()  # without its binding, which it gave up
                else:
                    queue.declare()
            for queue in self.later:
                queue(channel).declare()
            consumer = Consumer(
                channel,
                queues=queues,
                on_message=pending.append,  # decoded later, one by one (a bad body is parked)
                accept=["json"],
                prefetch_count=self.max_batch * 2,
                auto_declare=False,  # declared above (a retired queue without its binding)
            )
            with consumer:
                first_at = None
                later_at = time.monotonic() + STANDBY_AFTER if self.later else None
                while self._running:
                    if later_at is not None and time.monotonic() >= later_at:
                        for queue in self.later:  # stand by for the others' share
                            consumer.add_queue(queue(channel))
                        consumer.consume()
                        later_at = None
                    # idle, it sleeps until a message comes (or a second, to check the heartbeat
                    # and whether to stop) instead of waking every max_wait in every process;
                    # with messages waiting, until their batch is due
                    wait = IDLE_WAIT if first_at is None else max(0.001, first_at + self.max_wait - time.monotonic())
                    if later_at is not None:
                        wait = max(0.001, min(wait, later_at - time.monotonic()))
                    try:
                        conn.drain_events(timeout=wait)
                    except socket.timeout:
                        conn.heartbeat_check()
                    if pending and first_at is None:
                        first_at = time.monotonic()
                    full = len(pending) >= self.max_batch
                    if pending and (full or time.monotonic() - first_at >= self.max_wait):
                        batch, pending[:] = pending[: self.max_batch], pending[self.max_batch :]
                        self._handle(batch)
                        first_at = time.monotonic() if pending else None
                # stopping: what is not acknowledged goes back to the queue with the connection

    def _payloads(self, messages: list) -> tuple[list, list]:
        """The decoded bodies with their messages; an undecodable one is parked and acknowledged."""
        good, bodies = [], []
        for message in messages:
            try:
                body = message.decode()
            except Exception as exc:  # noqa: BLE001 - kombu's decode errors have no common base
                info = message.delivery_info or {}
                publish_dead_letter(
                    self.amqp_uri,
                    message.body,
                    reason=f"undecodable: {exc!r}",
                    consumer=f"{self.container.service_name}.{self.method_name}",
                    source=str(info.get("exchange", "")).removesuffix(".events"),
                    event_type=str(info.get("routing_key", "")),
                    raw=True,
                    content_type=message.content_type,
                )
                message.ack()
                continue
            good.append(message)
            if self.routed:
                info = message.delivery_info or {}
                body = (info.get("exchange", ""), info.get("routing_key", ""), body)
            bodies.append(body)
        return good, bodies

    def _handle(self, messages: list) -> None:
        messages, bodies = self._payloads(messages)
        if not messages:
            return
        done = Event()

        def handle_result(worker_ctx, result, exc_info):
            done.send(exc_info)
            return result, exc_info

        self.container.spawn_worker(self, (bodies,), {}, handle_result=handle_result)
        exc_info = done.wait()
        if exc_info is None:
            for message in messages:
                message.ack()
            return
        log.error("batch of %d from %s failed (%r); handing it back", len(messages), self.label, exc_info[1])
        time.sleep(0.5)
        for message in messages:
            message.requeue()


batch_consume = BatchConsumer.decorator


def _retire(conn, queue: Queue) -> bool:
    """An earlier version's queue, replaced by its single-active-consumer copy (already bound):
    unbound so nothing more comes to it, deleted once empty; True while it still holds
    messages (or another process still consumes it), so this process takes them too."""
    channel = conn.channel()
    try:
        try:
            channel.queue_declare(queue.name, passive=True)
        except Exception:  # noqa: BLE001 - not there (404 closes the channel): nothing to retire
            return False
        channel.queue_unbind(queue.name, queue.exchange.name, queue.routing_key)
        # quorum queues refuse a conditional delete (if-empty, if-unused): looked at first; one
        # that gains a consumer meanwhile loses it, and that consumer declares it again, empty
        _, messages, consumers = channel.queue_declare(queue.name, passive=True)
        if messages or consumers:
            return True
        channel.queue_delete(queue.name)
        return False
    except Exception:  # noqa: BLE001 - the broker refused: drain it, as if it held messages
        return True
    finally:
        try:
            channel.close()
        except Exception:  # noqa: BLE001 - closed by the broker already
            pass


ONE_PROCESS_SUFFIX = ".one"


def one_process(queues):
    """A ``standby`` for queues one process of the service takes at a time: their single-active-
    consumer copies (``<name>.one``, bound as they were), taken at once by process 0 (or a
    process without an index) and stood by for by the others. The queues of earlier versions
    (``queues``, consumed by every process) are unbound and deleted once empty; until then every
    process takes from them too."""

    def standby(config) -> tuple[list[Queue], list[Queue]]:
        from common.sharding import process_index

        old = queues(config) if callable(queues) else list(queues)
        new = []
        for queue in old:
            new.append(
                Queue(
                    queue.name + ONE_PROCESS_SUFFIX,
                    exchange=queue.exchange,
                    routing_key=queue.routing_key,
                    durable=True,
                    queue_arguments={**(queue.queue_arguments or {}), "x-single-active-consumer": True},
                )
            )
            queue.retired = True
        index = process_index(setting(config, "PROCESS_INDEX"))
        first = index is None or index == 0
        return [*new, *old] if first else old, [] if first else new

    standby.one_process = True  # any process may be the one: no index needed (a Deployment will do)
    return standby


def event_queue(config, source: str, event_type: str, name: str) -> Queue:
    """A durable quorum queue named ``name`` on nameko's event exchange of ``source``, bound to
    ``event_type``: what a batch consumer of events takes in (declared as nameko declares its own)."""
    from nameko.standalone.events import get_event_exchange

    return Queue(
        name,
        exchange=get_event_exchange(source, config),
        routing_key=event_type,
        durable=True,
        queue_arguments={"x-queue-type": "quorum"},
    )
