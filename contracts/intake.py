"""The audience's responses on their way from the gateway to the feedback service.

The gateway checks a response (schema, survey open), publishes it to this durable quorum queue
with a publisher confirm and answers 202. A message holds a list of responses (the answers that
reached one gateway process together) or one response alone, as earlier gateways sent it. The
feedback service stores what it takes from the queue in batches, one transaction per batch, and acknowledges only after the commit. So a burst
of answers costs the database one transaction per batch, not one per answer, and an answer the
gateway accepted is never lost (at worst stored twice from a redelivery, which the response's
id makes a no-op).
"""

from __future__ import annotations

import hashlib

from kombu import Exchange, Queue
from marshmallow import Schema

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
