"""The audience's responses on their way from the gateway to the feedback service.

The gateway checks a response (schema, survey open), publishes it to this durable quorum queue
with a publisher confirm and answers 202. A message holds a list of responses (the answers that
reached one gateway process together) or one response alone, as earlier gateways sent it. The
feedback service stores what it takes from the queue in batches, one transaction per batch, and acknowledges only after the commit. So a burst
of answers costs the database one transaction per batch, not one per answer, and an answer the
gateway accepted is never lost (at worst stored twice from a redelivery, which the response's
id makes a no-op).

Each survey's answers go to one of ``SHARDS`` queues (``feedback.intake.shard-NN``, by the
survey's shard, ``common.sharding.shard_of``), each consumed by one feedback process at a time
(single active consumer; the others stand by and take over when it goes): the answers to one
survey are then stored by one process, in turn, and two processes never add to the same
survey's totals at once (their transactions conflicted and ran again, more often the more
processes took answers). The one queue earlier gateways published to is still consumed.
"""

from __future__ import annotations

import hashlib

from kombu import Exchange, Queue
from marshmallow import Schema

from common.sharding import SHARDS, shard_of
from contracts.base import Id, Time, fields, new_id

EXCHANGE = Exchange("feedback.intake", type="direct", durable=True)
QUEUE = Queue(
    "feedback.intake.responses",
    exchange=EXCHANGE,
    routing_key="response",
    durable=True,
    queue_arguments={"x-queue-type": "quorum"},
)
ROUTING_KEY = "response"
VERSION = 1  # of one response; the list around them needs none

SHARD_EXCHANGE = Exchange("feedback.intake.shards", type="direct", durable=True)


def shard_queue(shard: str) -> Queue:
    """The queue of one shard's surveys (``00`` … ``SHARDS - 1``), bound by its number."""
    return Queue(
        f"feedback.intake.shard-{shard}",
        exchange=SHARD_EXCHANGE,
        routing_key=shard,
        durable=True,
        queue_arguments={"x-queue-type": "quorum", "x-single-active-consumer": True},
    )


SHARD_QUEUES = [shard_queue(f"{k:02d}") for k in range(SHARDS)]


def shard_key(survey_id: str) -> str:
    """The routing key (and shard) of a survey's answers."""
    return shard_of(survey_id)


def queues_of(index: int | None, processes: int) -> tuple[list[Queue], list[Queue]]:
    """The intake queues a feedback process takes at once, and those it stands by for: process
    ``index`` of ``processes`` first takes the shards ``k % processes == index`` (and the one
    queue of earlier gateways); without an index, all of them at once."""
    if index is None:
        return [QUEUE, *SHARD_QUEUES], []
    processes = max(1, processes)
    mine = [q for k, q in enumerate(SHARD_QUEUES) if k % processes == index % processes]
    others = [q for k, q in enumerate(SHARD_QUEUES) if k % processes != index % processes]
    return [QUEUE, *mine], others


def responses(body) -> list:
    """The responses a message holds: a list of them, or one alone (older gateways)."""
    return body if isinstance(body, list) else [body]


class ResponseIntake(Schema):
    """One response as accepted by the gateway (the answer as the audience sent it, checked)."""

    version = fields.Integer(required=True)
    response_id = Id()
    survey_id = Id()
    received_at = Time()
    answer = fields.Dict(required=True)


def response_id(survey_id: str, client_ref: str | None) -> str:
    """The same phone's resubmission (same client_ref) gets the same id, so it is stored once."""
    if not client_ref:
        return new_id()
    return "r" + hashlib.sha256(f"{survey_id}:{client_ref}".encode()).hexdigest()[:31]
