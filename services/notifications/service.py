"""notifications: tells volunteers, enterprise unions and dispatchers what concerns them.

Every notification is written to the person's inbox (and published as ``notification_created``)
in the same transaction as the event that caused it; email and the webhook (an SMS or WeChat
gateway) are delivered afterwards by a timer, retried with back-off, each try recorded.
Reminders 48 h and 2 h before a delivery are kept as due rows and said by a timer.
"""

from __future__ import annotations

import logging
import time

import eventlet
from nameko.events import BROADCAST, event_handler
from nameko.rpc import RpcProxy
from nameko.timer import timer

from common import erasure as erasing
from common import retention as keeping
from common.config import Config
from common.consuming import TryLater, by_shard, consumes
from common.errors import NotFound
from common.observability import Metrics
from common.rpc import UNAVAILABLE, rpc
from common.store import MongoStore
from contracts import signals
from contracts.base import now
from services.notifications import channels, handlers, repository
from services.notifications.recipients import Recipients

log = logging.getLogger(__name__)

RPC_TIMEOUT = 10
TICK_SECONDS = 1

CONSUMED = [
    ("orders", "order_placed"),
    ("orders", "order_amended"),
    ("orders", "order_accepted"),
    ("orders", "order_rejected"),
    ("orders", "order_cancelled"),
    ("orders", "order_closed"),
    ("dispatch", "offer_made"),
    ("dispatch", "offer_accepted"),
    ("dispatch", "offer_declined"),
    ("dispatch", "offer_expired"),
    ("dispatch", "order_scheduled"),
    ("dispatch", "order_unfulfillable"),
    ("dispatch", "assignment_handed_over"),
    ("dispatch", "volunteer_no_show"),
    ("dispatch", "delivery_completed"),
    ("feedback", "survey_opened"),
    ("accounts", "registration_decided"),
    ("accounts", "password_reset_requested"),
    ("accounts", "invitations_issued"),
    ("accounts", "invitation_claimed"),
    ("accounts", "erasure_requested"),
]


# events about one order write that order's record and reminders: each order's events, from
# every source, go to one process (its shard, ``by_shard`` by ``order_id``), one at a time there
SHARDED = ("orders", "dispatch", "feedback")


def _consumer(source: str, event_type: str):
    def handle(self, data, uow):
        handlers.take_in(event_type, data, uow, self._directory, self._settings(), now(), self._find_order)

    handle.__name__ = f"on_{source}_{event_type}"
    return consumes(source, event_type, one_at_a_time="order_id", entrypoint=source not in SHARDED)(handle)


def _shards():
    def on_order_shards(self, source: str, event_type: str, payload):
        return getattr(self, f"on_{source}_{event_type}")(payload)

    sources = {source: tuple(t for s, t in CONSUMED if s == source) for source in SHARDED}
    return by_shard(sources, key="order_id")(on_order_shards)


class NotificationsService:
    name = "notifications"
    metrics = Metrics()
    config = Config()
    accounts = RpcProxy("accounts")
    orders = RpcProxy("orders")

    store = MongoStore("notifications", indexes=repository.ensure_indexes)
    handle_person_erased, finish_erasures = erasing.entrypoints(repository.forget_person)
    recipients = Recipients()

    for _source, _type in CONSUMED:
        locals()[f"on_{_source}_{_type}"] = _consumer(_source, _type)
    on_order_shards = _shards()
    del _source, _type

    # ------------------------------------------------------------ plumbing

    def _channels(self) -> dict:
        return channels.configured(self.config)

    def _settings(self) -> handlers.Settings:
        return handlers.Settings.of(self.config, self._channels())

    def _directory(self, scopes: dict[str, set[str]]) -> list[dict]:
        """The accounts of the scopes: those this process knows from the last
        RECIPIENTS_CACHE_SECONDS, the rest from accounts; while it is away the event waits."""
        known, missing = self.recipients.split(scopes)
        if not any(missing.values()):
            return self.recipients.merge(known, [])
        stamp = self.recipients.stamp()
        try:
            with eventlet.Timeout(RPC_TIMEOUT):
                found = self.accounts.recipients({k: sorted(v) for k, v in missing.items()})
        except UNAVAILABLE as err:
            time.sleep(1)  # handed back to the broker: not at once again
            raise TryLater(f"accounts did not answer: {err!r}") from None
        self.recipients.keep(missing, found, stamp)
        return self.recipients.merge(known, found)

    @event_handler(signals.SOURCE, signals.ACCOUNTS_CHANGED, handler_type=BROADCAST, reliable_delivery=False)
    def on_accounts_changed(self, payload):
        """Accounts were created, approved or rejected: ask again who is in each scope."""
        self.recipients.forget_all()

    def _find_order(self, order_id: str) -> dict | None:
        """An order as the orders service knows it (None when it does not); while it is away the
        event waits."""
        try:
            with eventlet.Timeout(RPC_TIMEOUT):
                return self.orders.get_order(order_id)
        except NotFound:
            return None
        except UNAVAILABLE as err:
            time.sleep(1)  # handed back to the broker: not at once again
            raise TryLater(f"orders did not answer: {err!r}") from None

    # ------------------------------------------------------------ timers

    @timer(interval=TICK_SECONDS)
    def send_reminders(self):
        """Say the reminders that are due (48 h and 2 h before a delivery, offers about to expire)."""
        try:
            handlers.send_due_reminders(self.store, self._directory, self._settings(), now)
        except TryLater as err:
            log.warning("reminders wait: %s", err)

    @timer(interval=TICK_SECONDS)
    def deliver(self):
        """Send what is due on email and the webhook; failures are retried with back-off."""
        handlers.deliver_due(self.store.db, self._channels(), self._settings(), self.store.holder, now)

    # ------------------------------------------------------------ the inbox

    @rpc
    def inbox(self, username: str, before: str | None = None, limit: int = 20) -> dict:
        return handlers.inbox(self.store.db, username, before, limit, now())

    @rpc
    def mark_read(self, username: str, notification_id: str) -> dict:
        return handlers.mark_read(self.store.db, username, notification_id, now())

    @rpc
    def read_all(self, username: str) -> dict:
        return handlers.read_all(self.store.db, username, now())

    @rpc
    def preferences(self, principal: dict) -> dict:
        return handlers.preferences(self.store.db, principal, self._settings())

    @rpc
    def set_preferences(self, principal: dict, payload: dict) -> dict:
        return handlers.set_preferences(self.store.db, principal, payload, self._settings(), now())

    @rpc
    def deliveries(self, notification_id: str) -> list[dict]:
        """Where a notification went: each external channel's status, attempts and last error."""
        return [
            {k: d.get(k) for k in ("channel", "status", "attempts", "last_error")}
            for d in repository.deliveries_of(self.store.db, notification_id)
        ]

    @rpc
    def personal_data(self, person: dict) -> dict:
        """What this service holds about one person, for the copy of their data they download
        (``person``: username, role, volunteer_id, enterprise_id)."""
        return repository.personal_data(self.store.db, person["username"])

    @rpc
    def ping(self) -> str:
        self.store.db.command("ping")
        return "ok"

    # ------------------------------------------------------------ retention (common/retention.py)

    @timer(interval=keeping.SWEEP_SECONDS)
    def sweep_retention(self):
        """Delete (or clear) what is older than the retention policy; one process at a time."""
        if self.store.holds("retention"):
            removed = keeping.sweep(self.store, "notifications", repository.sweep_retention)
            log.info("retention sweep: %s", removed)

    @rpc
    def retention(self) -> list[dict]:
        """Each kind of personal data this service keeps: days, last sweep, removed, oldest kept."""
        return keeping.report(self.store, "notifications", repository.retention_oldest)

    @rpc
    def sweep_now(self) -> list[dict]:
        """Sweep at once (the admin's button), then what ``retention`` says."""
        keeping.sweep(self.store, "notifications", repository.sweep_retention)
        return self.retention()
