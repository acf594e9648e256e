"""The AsyncAPI 2.6 document of every event, generated from the marshmallow contracts.

`python -m contracts.asyncapi` prints it; `make asyncapi` writes contracts/asyncapi.json,
and a test fails when the checked-in file differs from what the schemas generate.
"""

from __future__ import annotations

import json
import os

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from contracts.events import EVENTS

PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "asyncapi.json")


def _schema_name(schema) -> str:
    cls = schema if isinstance(schema, type) else type(schema)
    return cls.__name__.lstrip("_")


def build() -> dict:
    spec = APISpec(
        title="送文化下基层 events",
        version="1.0.0",
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin(schema_name_resolver=_schema_name)],
    )
    for event_spec in EVENTS.values():
        name = event_spec.schema.__name__
        if name not in spec.components.schemas:
            spec.components.schema(name, schema=event_spec.schema)
    schemas = spec.to_dict()["components"]["schemas"]
    channels, messages = {}, {}
    for (source, event_type), event_spec in sorted(EVENTS.items()):
        message_name = f"{source}.{event_type}"
        messages[message_name] = {
            "name": event_type,
            "title": event_type,
            "summary": event_spec.description,
            "contentType": "application/json",
            "payload": {"$ref": f"#/components/schemas/{event_spec.schema.__name__}"},
            "headers": {
                "type": "object",
                "properties": {"event_type": {"type": "string"}, "source": {"type": "string"}},
            },
            "x-version": event_spec.version,
            "bindings": {"amqp": {"deliveryMode": 2, "bindingVersion": "0.2.0"}},
        }
        channels[f"{source}.events/{event_type}"] = {
            "description": event_spec.description,
            "bindings": {
                "amqp": {
                    "is": "routingKey",
                    "exchange": {"name": f"{source}.events", "type": "topic", "durable": True, "vhost": "/"},
                    "bindingVersion": "0.2.0",
                }
            },
            "subscribe": {
                "operationId": f"{source}_{event_type}",
                "summary": f"{source} publishes {event_type} (version {event_spec.version}).",
                "message": {"$ref": f"#/components/messages/{message_name}"},
            },
        }
    return {
        "asyncapi": "2.6.0",
        "info": {
            "title": "送文化下基层 — events between services",
            "version": "1.0.0",
            "description": (
                "Every event is published by its service's outbox relay to the topic exchange "
                "`<source>.events` with the event type as routing key, persistent, with publisher "
                "confirms. Every payload carries event_id, occurred_at and version."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {"local": {"url": "amqp://127.0.0.1:5672/", "protocol": "amqp", "protocolVersion": "0-9-1"}},
        "channels": channels,
        "components": {"messages": messages, "schemas": schemas},
    }


def render() -> str:
    return json.dumps(build(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(render(), end="")
