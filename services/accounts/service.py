"""accounts: people who sign in (enterprise unions, dispatchers, volunteers, palace admins)
and their sessions. Passwords are hashed with argon2; sessions expire."""

from __future__ import annotations

import logging

from nameko.events import EventDispatcher

from common.config import setting
from common.errors import load
from common.observability import Metrics
from common.rpc import rpc
from common.store import MongoStore
from contracts import payloads, signals
from contracts.base import now, schema_of
from services.accounts import domain, handlers, repository

log = logging.getLogger(__name__)

_registration = schema_of(payloads.RegistrationOut)


class AccountsService:
    name = "accounts"
    metrics = Metrics()

    store = MongoStore("accounts", indexes=repository.ensure_indexes)
    signal = EventDispatcher()

    def _session_hours(self) -> float:
        return setting(self.store.config, "SESSION_HOURS")

    def _tell(self, signal_type: str, **data) -> None:
        """Tell the processes that keep sessions or recipients in memory (``contracts.signals``);
        a broker away only delays what they forget to their cache's time limit."""
        payload = schema_of(signals.SIGNALS[signal_type]).dump(data)
        try:
            self.signal(signal_type, payload)
        except Exception as err:  # noqa: BLE001 - the change itself is stored; the signal is a hint
            log.warning("signal %s not sent: %r", signal_type, err)

    @rpc
    def create_user(self, payload: dict) -> dict:
        """Create an account (palace admins and the first-admin command)."""
        user = handlers.create_user(load(payloads.NewUser, payload), self.store.db)
        self._tell(signals.ACCOUNTS_CHANGED, usernames=[user["username"]])
        return user

    # ---------------------------------------------------------- self-registration

    @rpc
    def register(self, payload: dict) -> dict:
        """An enterprise union or a volunteer registers; the account waits for a dispatcher."""
        return _registration.dump(handlers.register(load(payloads.Registration, payload), self.store.db))

    @rpc
    def get_registration(self, username: str) -> dict:
        return _registration.dump(handlers.get_registration(username, self.store.db))

    @rpc
    def list_registrations(self, palace_id: str | None, status: str = "pending") -> list[dict]:
        return payloads.RegistrationOut(many=True).dump(handlers.list_registrations(palace_id, status, self.store.db))

    def _decide(self, username: str, change: dict) -> dict:
        registration, decided = handlers.decide(username, change, self.store)
        if decided:
            self._tell(signals.ACCOUNTS_CHANGED, usernames=[username])
        return _registration.dump(registration)

    @rpc
    def approve_registration(self, username: str, by: str) -> dict:
        return self._decide(username, domain.approval(by, now()))

    @rpc
    def reject_registration(self, username: str, payload: dict, by: str) -> dict:
        data = load(payloads.RejectRegistration, payload)
        return self._decide(username, domain.rejection(data["reason"], by, now()))

    @rpc
    def recipients(self, payload: dict) -> list[dict]:
        """The open accounts of some volunteers, enterprise unions and palaces (their dispatchers),
        for notifications: who is told when something happens to them."""
        found = handlers.recipients(load(payloads.Recipients, payload), self.store.db)
        return payloads.Recipient(many=True).dump(found)

    @rpc
    def login(self, payload: dict) -> dict:
        """Username and password → a session token that expires."""
        return handlers.login(load(payloads.Login, payload), self.store.db, self._session_hours())

    @rpc
    def authenticate(self, token: str) -> dict:
        """The principal of a live session, or 401."""
        return handlers.live_session(token, self.store.db)["principal"]

    @rpc
    def session(self, token: str) -> dict:
        """The principal of a live session and when the session ends, or 401: for a caller that
        keeps it in memory until then (or until told of a sign-out, ``contracts.signals``)."""
        session = handlers.live_session(token, self.store.db)
        return {"principal": session["principal"], "expires_at": session["expires_at"].isoformat()}

    @rpc
    def logout(self, token: str) -> dict:
        key = handlers.logout(token, self.store.db)
        if key is not None:
            self._tell(signals.SESSION_ENDED, token_key=key)
        return {"status": "ok"}

    @rpc
    def ping(self) -> str:
        return handlers.ping(self.store.db)
