"""accounts: people who sign in (enterprise unions, dispatchers, volunteers, palace admins)
and their sessions. Passwords are hashed with argon2; sessions expire."""

from __future__ import annotations

import datetime as dt
import logging

from nameko.events import EventDispatcher
from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from common.config import setting
from common.errors import Conflict, Forbidden, NotFound, Unauthorized, load
from common.observability import Metrics
from common.rpc import rpc
from common.store import MongoStore, find_and_update
from contracts import payloads, signals
from contracts.base import now, schema_of
from contracts.signals import token_key
from services.accounts import domain

log = logging.getLogger(__name__)


def ensure_indexes(db) -> None:
    db.sessions.create_index([("expires_at", ASCENDING)], expireAfterSeconds=0)
    db.users.create_index([("role", ASCENDING), ("palace_id", ASCENDING)])
    db.users.create_index([("status", ASCENDING), ("palace_id", ASCENDING), ("created_at", ASCENDING)])
    db.users.create_index([("volunteer_id", ASCENDING)])
    db.users.create_index([("enterprise_id", ASCENDING)])


class AccountsService:
    name = "accounts"
    metrics = Metrics()

    store = MongoStore("accounts", indexes=ensure_indexes)
    signal = EventDispatcher()

    def _session_hours(self) -> float:
        return float(setting(self.store.config, "SESSION_HOURS", "12"))

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
        data = load(payloads.NewUser, payload)
        user = domain.new_user(data, now())
        doc = {**user, "_id": user.pop("username")}
        try:
            self.store.db.users.insert_one(doc)
        except DuplicateKeyError:
            raise Conflict("这个用户名已被使用。", "USERNAME_TAKEN", {"username": ["这个用户名已被使用。"]}) from None
        self._tell(signals.ACCOUNTS_CHANGED, usernames=[doc["_id"]])
        return domain.principal({**doc, "username": doc["_id"]})

    # ---------------------------------------------------------- self-registration

    @rpc
    def register(self, payload: dict) -> dict:
        """An enterprise union or a volunteer registers; the account waits for a dispatcher."""
        data = load(payloads.Registration, payload)
        doc = domain.new_registration(data, now())
        try:
            self.store.db.users.insert_one(doc)
        except DuplicateKeyError:
            raise Conflict("这个用户名已被使用。", "USERNAME_TAKEN", {"username": ["这个用户名已被使用。"]}) from None
        return schema_of(payloads.RegistrationOut).dump(domain.registration_view(doc))

    @rpc
    def get_registration(self, username: str) -> dict:
        doc = self.store.db.users.find_one({"_id": username, "status": {"$exists": True}})
        if doc is None:
            raise NotFound("找不到这份注册申请。", "REGISTRATION_NOT_FOUND")
        return schema_of(payloads.RegistrationOut).dump(domain.registration_view(doc))

    @rpc
    def list_registrations(self, palace_id: str | None, status: str = "pending") -> list[dict]:
        query = {"status": status, **({"palace_id": palace_id} if palace_id else {})}
        docs = self.store.db.users.find(query).sort("created_at", ASCENDING).limit(500)
        return payloads.RegistrationOut(many=True).dump([domain.registration_view(d) for d in docs])

    def _decide(self, username: str, change: dict) -> dict:
        def decide(uow):
            query = {"_id": username, "status": "pending"}
            doc = find_and_update(uow.db.users, query, {"$set": change}, after=True, session=uow.session)
            if doc is not None:  # the person is told (notifications), with the decision's commit
                uow.emit("registration_decided", **domain.decision_event(doc))
            return doc

        doc = self.store.transaction(decide)
        if doc is None:
            current = self.get_registration(username)  # 404 when there is none
            if current["status"] == change["status"]:
                return current  # decided the same way before: asking again changes nothing
            raise Conflict("这份注册申请已经处理过了。", "REGISTRATION_DECIDED")
        self._tell(signals.ACCOUNTS_CHANGED, usernames=[username])
        return schema_of(payloads.RegistrationOut).dump(domain.registration_view(doc))

    @rpc
    def approve_registration(self, username: str, by: str) -> dict:
        return self._decide(username, {"status": "approved", "active": True, "decided_by": by, "decided_at": now()})

    @rpc
    def reject_registration(self, username: str, payload: dict, by: str) -> dict:
        data = load(payloads.RejectRegistration, payload)
        return self._decide(
            username,
            {"status": "rejected", "active": False, "reason": data["reason"], "decided_by": by, "decided_at": now()},
        )

    @rpc
    def recipients(self, payload: dict) -> list[dict]:
        """The open accounts of some volunteers, enterprise unions and palaces (their dispatchers),
        for notifications: who is told when something happens to them."""
        data = load(payloads.Recipients, payload)
        queries = [
            (data["volunteer"], {"volunteer_id": {"$in": data["volunteer"]}}, "volunteer"),
            (data["enterprise"], {"enterprise_id": {"$in": data["enterprise"]}}, "enterprise"),
            (data["palace"], {"role": "dispatcher", "palace_id": {"$in": data["palace"]}}, "dispatcher"),
        ]
        found: dict[str, dict] = {}
        for ids, query, role in queries:
            if not ids:
                continue
            for doc in self.store.db.users.find(query, limit=1000):
                if doc.get("role") == role and doc.get("active") and doc.get("status", "approved") == "approved":
                    found[doc["_id"]] = domain.principal({**doc, "username": doc["_id"]})
        return payloads.Recipient(many=True).dump(sorted(found.values(), key=lambda u: u["username"]))

    @rpc
    def login(self, payload: dict) -> dict:
        """Username and password → a session token that expires."""
        data = load(payloads.Login, payload)
        doc = self.store.db.users.find_one({"_id": data["username"]})
        if doc is None or not domain.password_matches(doc["password_hash"], data["password"]):
            raise Unauthorized("用户名或密码不对。", "BAD_CREDENTIALS")
        if doc.get("status") == "pending":
            raise Forbidden("您的注册正在等待文化宫调度员审核，通过后即可登录。", "REGISTRATION_PENDING")
        if doc.get("status") == "rejected":
            raise Forbidden(f"您的注册没有通过审核：{doc.get('reason') or ''}", "REGISTRATION_REJECTED")
        if not doc.get("active"):
            raise Unauthorized("用户名或密码不对。", "BAD_CREDENTIALS")
        token = domain.new_token()
        expires = now() + dt.timedelta(hours=self._session_hours())
        user = {**doc, "username": doc["_id"]}
        self.store.db.sessions.insert_one(
            {"_id": token_key(token), "principal": domain.principal(user), "expires_at": expires}
        )
        return {"token": token, "expires_at": expires.isoformat(), "principal": domain.principal(user)}

    def _live_session(self, token: str) -> dict:
        if not isinstance(token, str) or not token:
            raise Unauthorized("请先登录。")
        session = self.store.db.sessions.find_one({"_id": token_key(token)})
        if session is None or session["expires_at"] <= now():
            raise Unauthorized("登录已过期，请重新登录。", "SESSION_EXPIRED")
        return session

    @rpc
    def authenticate(self, token: str) -> dict:
        """The principal of a live session, or 401."""
        return self._live_session(token)["principal"]

    @rpc
    def session(self, token: str) -> dict:
        """The principal of a live session and when the session ends, or 401: for a caller that
        keeps it in memory until then (or until told of a sign-out, ``contracts.signals``)."""
        session = self._live_session(token)
        return {"principal": session["principal"], "expires_at": session["expires_at"].isoformat()}

    @rpc
    def logout(self, token: str) -> dict:
        if isinstance(token, str):
            self.store.db.sessions.delete_one({"_id": token_key(token)})
            self._tell(signals.SESSION_ENDED, token_key=token_key(token))
        return {"status": "ok"}

    @rpc
    def ping(self) -> str:
        self.store.db.command("ping")
        return "ok"
