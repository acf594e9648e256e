"""Sessions the gateway has seen, kept in this process until they end, for at most
SESSION_CACHE_SECONDS (default 60; 0 keeps none): a screen that polls, a dispatcher working
through a list, asks accounts once a minute instead of on every request.

A sign-out is told to every gateway process (``contracts.signals.SESSION_ENDED``), so a token
stops working at once on all of them; a process that misses that signal (away from the broker
at the moment) accepts the token no longer than the time limit.
"""

from __future__ import annotations

import datetime as dt

from nameko.events import BROADCAST, event_handler
from nameko.extensions import DependencyProvider

from common.cache import SignalledCache
from common.config import setting
from contracts import signals
from contracts.base import now, schema_of


class Sessions(DependencyProvider):
    def setup(self):
        config = self.container.config
        self.cache = SignalledCache(setting(config, "SESSION_CACHE_SIZE"), setting(config, "SESSION_CACHE_SECONDS"))

    def get_dependency(self, worker_ctx):
        return self

    def principal(self, token: str, ask) -> dict:
        """The principal of ``token``: from memory while its session lives, else ``ask(token)``
        (accounts' ``session``, which raises 401 for a token that is not live)."""
        key = signals.token_key(token)
        kept = self.cache.get(key)
        if kept is not None and kept[1] > now():
            return kept[0]
        stamp = self.cache.stamp()
        found = ask(token)
        expires_at = dt.datetime.fromisoformat(found["expires_at"])
        self.cache.put(key, (found["principal"], expires_at), stamp)
        return found["principal"]

    def ended(self, token: str) -> None:
        self.cache.forget(signals.token_key(token))

    def forget_key(self, key: str) -> None:
        self.cache.forget(key)


class SessionSignals:
    """The gateway's handler of sign-outs made through any gateway process."""

    sessions = Sessions()

    @event_handler(signals.SOURCE, signals.SESSION_ENDED, handler_type=BROADCAST, reliable_delivery=False)
    def on_session_ended(self, payload):
        data = schema_of(signals.SessionEnded).load(payload)
        self.sessions.forget_key(data["token_key"])
