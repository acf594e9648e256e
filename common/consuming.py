"""Event consumers that lose nothing and do nothing twice.

``consumes(source, event_type)`` wraps a nameko event handler so that:
- the payload is loaded with its contract (unknown fields ignored, older versions upcast);
  a malformed event or an unknown version goes to the dead-letter queue with the reason;
- the handler runs in one transaction with an inbox entry keyed by (consumer, event_id),
  so a redelivered event changes nothing;
- a failing handler is retried with back-off, then dead-lettered with the reason,
  instead of being acked and forgotten (nameko's default on error);
- while the database cannot be reached, the message goes back to the broker (requeued),
  so an outage delays events and loses none.
"""

from __future__ import annotations

import functools
import logging
import time

from marshmallow import ValidationError
from nameko.events import event_handler
from pymongo.errors import ConnectionFailure, NetworkTimeout

from common.errors import ServiceError
from common.store import AlreadyHandled
from contracts.events import UnknownEvent, load_event

log = logging.getLogger(__name__)

RETRIES = 4
BACKOFF_SECONDS = 0.2


def consumes(source: str, event_type: str, *, store_attr: str = "store"):
    def decorator(fn):
        @functools.wraps(fn)
        def wrapper(self, payload):
            store = getattr(self, store_attr)
            consumer = f"{self.name}.{fn.__name__}"
            try:
                data = load_event(source, event_type, payload)
            except (UnknownEvent, ValidationError) as err:
                reason = err.messages if isinstance(err, ValidationError) else str(err)
                store.dead_letter(
                    body=payload,
                    reason=f"contract: {reason}",
                    consumer=consumer,
                    source=source,
                    event_type=event_type,
                )
                return None

            def work(uow):
                uow.once(consumer, data["event_id"])
                return fn(self, data, uow)

            last_error = None
            for attempt in range(RETRIES):
                try:
                    return store.transaction(work)
                except AlreadyHandled:
                    return None
                except ServiceError as err:  # the domain refused it: retrying cannot help
                    last_error = err
                    break
                except (ConnectionFailure, NetworkTimeout):
                    # the database is away, not the message at fault: hand it back to the
                    # broker (requeue) rather than park it; it is handled when the database is back
                    raise
                except Exception as err:  # noqa: BLE001 - any failure is retried, then parked
                    last_error = err
                    log.warning("%s failed on %s (attempt %d): %r", consumer, data["event_id"], attempt + 1, err)
                    time.sleep(BACKOFF_SECONDS * 2**attempt)
            store.dead_letter(
                body=payload,
                reason=f"handler: {last_error!r}",
                consumer=consumer,
                source=source,
                event_type=event_type,
            )
            return None

        return event_handler(source, event_type, requeue_on_error=True)(wrapper)

    return decorator
