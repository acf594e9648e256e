"""audit: who did what. Keeps an entry for every decision a person made through the API (the
events the services publish carry their ``actor``, written in the same transaction as the change)
and for every access to other people's personal data (recorded by the gateway before it hands the
data out). Entries are written once and never changed; nothing else reads or writes them."""

from __future__ import annotations

from kombu import Queue

from common import erasure as erasing
from common.batching import batch_consume, event_queue, one_process
from common.observability import Metrics
from common.rpc import rpc
from common.store import MongoStore
from contracts.events import EVENTS
from services.audit import domain, handlers, repository


def _event_queues(config) -> list[Queue]:
    """The queue of every event the log may keep (notifications only say what was said)."""
    return [
        event_queue(config, source, event_type, f"evt-{source}-{event_type}--audit.take_events")
        for source, event_type in EVENTS
        if event_type in domain.BY_PEOPLE
    ]


class AuditService:
    name = "audit"
    metrics = Metrics()

    store = MongoStore("audit", indexes=repository.ensure_indexes, relay=False)
    handle_person_erased, finish_erasures = erasing.entrypoints()

    @batch_consume(standby=one_process(_event_queues), max_batch=200, max_wait=0.1, routed=True)
    def take_events(self, messages: list) -> dict:
        """The events the log keeps, many per transaction; one process at a time takes them
        (the others stand by), so the batches stay as large with several processes as with one."""
        return handlers.take_in_batch(self.store, messages, "audit.take_events")

    @rpc
    def record_access(self, access: dict) -> dict:
        return handlers.record_access(self.store.db, access)

    @rpc
    def entries(self, filters: dict, limit: int = 50) -> dict:
        return handlers.entries(self.store.db, filters or {}, limit)

    @rpc
    def kinds(self) -> list[dict]:
        return handlers.kinds()

    @rpc
    def personal_data(self, person: dict) -> dict:
        """What this service holds about one person, for the copy of their data they download
        (``person``: username, role, volunteer_id, enterprise_id)."""
        return repository.personal_data(self.store.db, person["username"], person.get("volunteer_id"))

    @rpc
    def ping(self) -> str:
        self.store.db.command("ping")
        return "ok"
