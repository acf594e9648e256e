"""RPC entrypoints whose domain errors travel to the caller as themselves, and whose reply
survives a broker node going away.

nameko publishes an RPC's reply once; when the broker refuses it (the reply queue's node was
just lost and its quorum queue is electing a new leader: the publish is nacked) or the connection
drops under it, the exception ends the service's container, and the process with it. Here the
reply is tried again for a few seconds, then given up with a warning (the caller's deadline
answers it: the gateway says 503), and the service goes on.
"""

from __future__ import annotations

import logging

import eventlet
from kombu.exceptions import OperationalError
from nameko.exceptions import UnknownService
from nameko.rpc import Rpc, RpcConsumer

from common.errors import ServiceError

log = logging.getLogger(__name__)

REPLY_TRIES = 8
REPLY_WAIT = 0.5  # seconds, growing by as much with each try

# what a call raises when the broker, not the service, failed it: the caller says "try later"
UNAVAILABLE = (eventlet.Timeout, UnknownService, OperationalError, ConnectionError)


class SteadyRpcConsumer(RpcConsumer):
    def handle_result(self, message, result, exc_info):
        for attempt in range(1, REPLY_TRIES + 1):
            try:
                return super().handle_result(message, result, exc_info)
            except Exception as err:  # noqa: BLE001 - amqp's nack and connection errors have no common base
                log.warning(
                    "the reply to %s was not taken (try %d): %r", message.delivery_info.get("routing_key"), attempt, err
                )
                eventlet.sleep(REPLY_WAIT * attempt)
        log.error("gave up replying to %s; the caller's deadline answers it", message.delivery_info.get("routing_key"))
        self.queue_consumer.ack_message(message)
        return result, exc_info


class SteadyRpc(Rpc):
    rpc_consumer = SteadyRpcConsumer()


def rpc(fn):
    """An RPC method whose ServiceErrors are expected (no error log, sent to the caller)."""
    return SteadyRpc.decorator(expected_exceptions=ServiceError)(fn)
