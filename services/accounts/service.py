"""accounts: people who sign in (enterprise unions, dispatchers, volunteers, palace admins)
and their sessions. Passwords are hashed with argon2; sessions expire."""

from __future__ import annotations

import datetime as dt
import logging

from nameko.events import EventDispatcher
from nameko.rpc import RpcProxy
from nameko.timer import timer

from common import erasure as erasing
from common import retention as keeping
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
ERASURE_SECONDS = 5  # how often due erasures are looked for (an indexed query, mostly finding none)


class AccountsService:
    name = "accounts"
    metrics = Metrics()

    store = MongoStore("accounts", indexes=repository.ensure_indexes)
    signal = EventDispatcher()
    dispatch = RpcProxy("dispatch")

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

    def _throttles(self) -> dict:
        config = self.store.config
        window = dt.timedelta(minutes=setting(config, "SIGN_IN_WINDOW_MINUTES"))
        lock = dt.timedelta(minutes=setting(config, "SIGN_IN_LOCK_MINUTES"))
        return {
            "account": domain.Throttle(setting(config, "SIGN_IN_FAILURES"), window, lock),
            "client": domain.Throttle(setting(config, "SIGN_IN_FAILURES_PER_CLIENT"), window, lock),
        }

    @rpc
    def login(self, payload: dict, client: str | None = None) -> dict:
        """Username and password → a session token that expires; ``client`` the address the
        sign-in came from (failed tries are counted per account and per address)."""
        data = load(payloads.Login, payload)
        return handlers.login(data, self.store, self._session_hours(), self._throttles(), client)

    def _ended(self, keys: list[str]) -> dict:
        for key in keys:
            self._tell(signals.SESSION_ENDED, token_key=key)
        return {"status": "ok", "sessions_ended": len(keys)}

    @rpc
    def end_sessions(self, username: str) -> dict:
        """Sign an account out everywhere."""
        return self._ended(handlers.end_sessions(username, username, self.store))

    @rpc
    def change_password(self, username: str, payload: dict) -> dict:
        """The owner changes the password with the old one; every session of the account ends."""
        return self._ended(handlers.change_password(username, load(payloads.ChangePassword, payload), self.store))

    @rpc
    def request_password_reset(self, username: str, by: dict) -> dict:
        """A one-time reset link for ``username``, made by ``by`` (a principal: a dispatcher of
        the account's palace, or an admin)."""
        return handlers.request_reset(username, by, self.store, setting(self.store.config, "RESET_HOURS"))

    @rpc
    def reset_password(self, payload: dict) -> dict:
        """A reset link's token and a new password; every session of the account ends."""
        _, keys = handlers.reset_password(load(payloads.ResetPassword, payload), self.store)
        return self._ended(keys)

    # ------------------------------------------------------------ invitations

    def _invite_secret(self) -> str:
        return setting(self.store.config, "INVITE_SECRET")

    @rpc
    def invite(self, payload: dict, by: str) -> dict:
        """Invite volunteers of a palace to claim their accounts (a code each, sent by
        notifications); ``by`` the staff member's username."""
        days = setting(self.store.config, "INVITE_DAYS")
        return handlers.invite(load(payloads.Invite, payload), by, self.store, days, self._invite_secret())

    @rpc
    def claim_invitation(self, payload: dict) -> dict:
        """A volunteer's code, phone digits, username and password → their account, signed in."""
        data = load(payloads.Claim, payload)
        session = handlers.claim(data, self.store, self._invite_secret(), self._session_hours())
        self._tell(signals.ACCOUNTS_CHANGED, usernames=[session["principal"]["username"]])
        return session

    @rpc
    def invitation_states(self, palace_id: str) -> list[dict]:
        return payloads.InvitationState(many=True).dump(handlers.invitation_states(palace_id, self.store.db))

    @rpc
    def list_accounts(self, palace_id: str | None, words: str = "") -> list[dict]:
        return payloads.AccountOut(many=True).dump(handlers.list_accounts(palace_id, words or "", self.store.db))

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
    def privacy_notice(self) -> dict:
        return schema_of(payloads.PrivacyNotice).dump(handlers.current_notice(self.store.db))

    @rpc
    def publish_notice(self, payload: dict, by: str) -> dict:
        data = load(payloads.PublishNotice, payload)
        return schema_of(payloads.PrivacyNotice).dump(handlers.publish_notice(data["text"], by, self.store))

    @rpc
    def give_consent(self, username: str, payload: dict) -> dict:
        data = load(payloads.GiveConsent, payload)
        return schema_of(payloads.NoticeStatus).dump(handlers.give_consent(username, data["version"], self.store.db))

    @rpc
    def notice_status(self, username: str) -> dict:
        return schema_of(payloads.NoticeStatus).dump(handlers.notice_status(username, self.store.db))

    @rpc
    def personal_data(self, person: dict) -> dict:
        """What this service holds about one person, for the copy of their data they download
        (``person``: username, role, volunteer_id, enterprise_id)."""
        return repository.personal_data(self.store.db, person["username"], person.get("volunteer_id"))

    @rpc
    def ping(self) -> str:
        return handlers.ping(self.store.db)

    # ------------------------------------------------------------ erasure

    @rpc
    def request_erasure(self, username: str, by: dict) -> dict:
        """Close an account: the person asks (``by`` is them), or staff record that they asked
        (a dispatcher of the account's palace, an admin). Carried out after ERASURE_GRACE_DAYS."""
        grace = setting(self.store.config, "ERASURE_GRACE_DAYS")
        return schema_of(payloads.ErasureOut).dump(handlers.request_erasure(username, by, self.store, grace))

    @rpc
    def cancel_erasure(self, username: str, by: dict) -> dict:
        return schema_of(payloads.ErasureOut).dump(handlers.cancel_erasure(username, by, self.store))

    @rpc
    def erasure_of(self, username: str) -> dict | None:
        found = handlers.erasure_of(username, self.store.db)
        return schema_of(payloads.ErasureOut).dump(found) if found else None

    @rpc
    def list_erasures(self, palace_id: str | None, status: str = "pending") -> list[dict]:
        return payloads.ErasureOut(many=True).dump(handlers.list_erasures(palace_id, status, self.store.db))

    @timer(interval=ERASURE_SECONDS)
    def erase_due(self):
        """Carry out the erasures whose grace period has ended (one process at a time): what
        dispatch holds of a volunteer is asked first, so every service looks for all of it; then
        this service's own erasure jobs go through its database."""
        if not self.store.holds("erasure"):
            return
        for erasure in repository.due_erasures(self.store.db, now()):
            held = {}
            if erasure.get("volunteer_id"):
                try:
                    held = self.dispatch.identifiers(erasure["volunteer_id"]) or {}
                except Exception as err:  # noqa: BLE001 - dispatch away: the erasure waits for the next round
                    log.warning("erasure %s waits: dispatch did not answer (%r)", erasure["_id"], err)
                    continue
            done = handlers.carry_out(erasure, self.store, held)
            if done is not None:
                keys, _ = done
                self._ended(keys)
                self._tell(signals.ACCOUNTS_CHANGED, usernames=[erasure["username"]])
        erasing.run(self.store.db)

    @rpc
    def retention(self) -> list[dict]:
        """Each kind of personal data this service keeps (each removed by a TTL index at its end)
        and the oldest kept (common/retention.py)."""
        return keeping.report(self.store, "accounts", repository.retention_oldest)
