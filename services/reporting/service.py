"""reporting: consumes every event into its own archive and read models (projections) and
answers the statistics palaces report upward. It writes to no other service's data."""

from __future__ import annotations

import datetime as dt
import logging

from kombu import Queue
from nameko.timer import timer

from common import erasure as erasing
from common import retention as keeping
from common.batching import batch_consume, event_queue, one_process
from common.errors import N_, Invalid
from common.observability import Metrics
from common.rpc import rpc
from common.store import MongoStore
from contracts.events import EVENTS
from services.reporting import domain, handlers, repository

log = logging.getLogger(__name__)
# Every event adds to the same palace-month counters: consumers only archive it, and this
# projector counts what was archived in batches, instead of one transaction per event on
# those few documents (concurrent ones conflicted and were retried over and over). Once a
# second: the events of a second fall on the same rows (the palace's and the whole city's
# month and year), so a batch writes each row once; every 0.2 s cost the database a third more.
PROJECT_SECONDS = 1.0


def _month(value: str | None, default: str, field: str) -> str:
    if value is None:
        return default
    try:
        dt.datetime.strptime(value, "%Y-%m")
    except (TypeError, ValueError):
        raise Invalid("查询参数有误。", fields={field: [N_("月份格式应为 YYYY-MM，例如 2026-12。")]}) from None
    return value


def period(start: str | None, end: str | None) -> tuple[str, str]:
    this = domain.month_of(dt.datetime.now(dt.UTC))
    end = _month(end, this, "end")
    first = domain.months_between("2000-01", end)[-12]
    start = _month(start, first, "start")
    if start > end:
        raise Invalid("查询参数有误。", fields={"end": [N_("结束月份应不早于开始月份。")]})
    if len(domain.months_between(start, end)) > 120:
        raise Invalid("查询参数有误。", fields={"start": [N_("一次最多查看 120 个月。")]})
    return start, end


def _event_queues(config) -> list[Queue]:
    """The queue of every event reporting takes in, named as nameko's per-event handlers named
    them (what waited in them before is taken in as well)."""
    return [
        event_queue(config, source, event_type, f"evt-{source}-{event_type}--reporting.on_{source}_{event_type}")
        for source, event_type in EVENTS
        # notifications: what was said about something, not something that happened; accounts:
        # people and their sign-in, not the deliveries the statistics count
        if source not in ("notifications", "accounts")
    ]


class ReportingService:
    name = "reporting"
    metrics = Metrics()

    store = MongoStore("reporting", indexes=repository.ensure_indexes, relay=False)
    handle_person_erased, finish_erasures = erasing.entrypoints()

    @batch_consume(standby=one_process(_event_queues), max_batch=200, max_wait=0.05, routed=True)
    def take_events(self, messages: list) -> dict:
        """Every event of the contracts, archived many per transaction whatever their kinds
        (answers come in bursts of hundreds; an order's events by the dozen); counted by the
        projector moments later. One process at a time takes them (the others stand by), so the
        batches stay as large with several processes as with one."""
        return handlers.take_in_batch(self.store, messages, "reporting.take_events")

    @timer(interval=PROJECT_SECONDS)
    def project(self):
        """Count what was archived since, oldest first, many events per transaction (each event
        claimed once, so two processes would count it once); one process of the service at a
        time (the projector lease: concurrent projectors only conflicted over the same events),
        paused while a rebuild runs."""
        if self.store.holds("projector") and repository.rebuild_lock(self.store.db) is None:
            n = handlers.drain(self.store)
            if n:
                log.debug("projected %d archived events", n)

    @rpc
    def backlog(self) -> int:
        """Events archived and not yet counted (for a moment after they arrive)."""
        return repository.count_unprojected(self.store.db)

    # ------------------------------------------------------------ answers

    @rpc
    def dashboard(self, palace: str, start: str | None = None, end: str | None = None) -> dict:
        return handlers.dashboard(self.store.db, palace, *period(start, end))

    @rpc
    def volunteers(self, palace: str, start: str | None = None, end: str | None = None, limit: int = 50) -> dict:
        return handlers.volunteers(self.store.db, palace, *period(start, end), limit)

    @rpc
    def coverage(self, palace: str, months: int = 3) -> dict:
        return handlers.coverage(self.store.db, palace, months, dt.datetime.now(dt.UTC))

    @rpc
    def comments(self, palace: str, limit: int = 50) -> list[dict]:
        return handlers.comments(self.store.db, palace, limit)

    @rpc
    def volunteer_record(self, volunteer_id: str) -> dict:
        return handlers.volunteer_record(self.store.db, volunteer_id)

    @rpc
    def rebuild(self, by: str) -> dict:
        return handlers.rebuild(self.store, by)

    @rpc
    def archive_size(self) -> int:
        return repository.count_archived(self.store.db)

    @rpc
    def personal_data(self, person: dict) -> dict:
        """What this service holds about one person, for the copy of their data they download
        (``person``: username, role, volunteer_id, enterprise_id)."""
        return repository.personal_data(self.store.db, person.get("volunteer_id"))

    @rpc
    def ping(self) -> str:
        self.store.db.command("ping")
        return "ok"

    # ------------------------------------------------------------ retention (common/retention.py)

    @timer(interval=keeping.SWEEP_SECONDS)
    def sweep_retention(self):
        """Delete (or clear) what is older than the retention policy; one process at a time."""
        if self.store.holds("retention"):
            removed = keeping.sweep(self.store, "reporting", repository.sweep_retention)
            log.info("retention sweep: %s", removed)

    @rpc
    def retention(self) -> list[dict]:
        """Each kind of personal data this service keeps: days, last sweep, removed, oldest kept."""
        return keeping.report(self.store, "reporting", repository.retention_oldest)

    @rpc
    def sweep_now(self) -> list[dict]:
        """Sweep at once (the admin's button), then what ``retention`` says."""
        keeping.sweep(self.store, "reporting", repository.sweep_retention)
        return self.retention()
