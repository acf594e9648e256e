"""Whom each scope reaches (a volunteer's accounts, an enterprise union's, a palace's
dispatchers), kept in this process for RECIPIENTS_CACHE_SECONDS (default 30; 0 keeps none):
an order's dozen notifications ask accounts once for its people instead of once per event.

Accounts tells every notifications process when accounts are created, approved or rejected
(``contracts.signals.ACCOUNTS_CHANGED``) and all is asked again; a process that misses that
signal (away from the broker at the moment) knows the new account no later than the time limit.
"""

from __future__ import annotations

from nameko.extensions import DependencyProvider

from common.cache import SignalledCache
from common.config import setting
from services.notifications.handlers import members

SCOPES = ("volunteer", "enterprise", "palace")


class Recipients(DependencyProvider):
    def setup(self):
        config = self.container.config
        self.cache = SignalledCache(
            setting(config, "RECIPIENTS_CACHE_SIZE"),
            setting(config, "RECIPIENTS_CACHE_SECONDS"),
        )

    def get_dependency(self, worker_ctx):
        return self

    def split(self, scopes: dict[str, set[str]]) -> tuple[list[dict], dict[str, set[str]]]:
        """The accounts known for the scopes, and the scopes to ask accounts about."""
        known: list[dict] = []
        missing: dict[str, set[str]] = {scope: set() for scope in SCOPES}
        for scope, ids in scopes.items():
            for scope_id in ids:
                users = self.cache.get((scope, scope_id))
                if users is None:
                    missing[scope].add(scope_id)
                else:
                    known.extend(users)
        return known, missing

    def stamp(self) -> int:
        return self.cache.stamp()

    def keep(self, asked: dict[str, set[str]], found: list[dict], stamp: int) -> None:
        """Remember accounts' answer for each scope asked about (none found is kept too)."""
        for scope, ids in asked.items():
            for scope_id in ids:
                self.cache.put((scope, scope_id), members(found, scope, scope_id), stamp)

    @staticmethod
    def merge(known: list[dict], found: list[dict]) -> list[dict]:
        """One entry per account, by username, as accounts orders them."""
        return sorted({u["username"]: u for u in [*known, *found]}.values(), key=lambda u: u["username"])

    def forget_all(self) -> None:
        self.cache.forget()
