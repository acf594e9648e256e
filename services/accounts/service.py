"""accounts: people who sign in (enterprise unions, dispatchers, volunteers, palace admins)
and their sessions. Passwords are hashed with argon2; sessions expire."""

from __future__ import annotations

import datetime as dt

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from common.config import setting
from common.errors import Conflict, Unauthorized, load
from common.rpc import rpc
from common.store import MongoStore
from contracts import payloads
from contracts.base import now
from services.accounts import domain


def ensure_indexes(db) -> None:
    db.sessions.create_index([("expires_at", ASCENDING)], expireAfterSeconds=0)
    db.users.create_index([("role", ASCENDING), ("palace_id", ASCENDING)])


class AccountsService:
    name = "accounts"

    store = MongoStore("accounts", indexes=ensure_indexes, relay=False)

    def _session_hours(self) -> float:
        return float(setting(self.store.config, "SESSION_HOURS", "12"))

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
        return domain.principal({**doc, "username": doc["_id"]})

    @rpc
    def login(self, payload: dict) -> dict:
        """Username and password → a session token that expires."""
        data = load(payloads.Login, payload)
        doc = self.store.db.users.find_one({"_id": data["username"]})
        if doc is None or not doc.get("active") or not domain.password_matches(doc["password_hash"], data["password"]):
            raise Unauthorized("用户名或密码不对。", "BAD_CREDENTIALS")
        token = domain.new_token()
        expires = now() + dt.timedelta(hours=self._session_hours())
        user = {**doc, "username": doc["_id"]}
        self.store.db.sessions.insert_one(
            {"_id": domain.token_key(token), "principal": domain.principal(user), "expires_at": expires}
        )
        return {"token": token, "expires_at": expires.isoformat(), "principal": domain.principal(user)}

    @rpc
    def authenticate(self, token: str) -> dict:
        """The principal of a live session, or 401."""
        if not isinstance(token, str) or not token:
            raise Unauthorized("请先登录。")
        session = self.store.db.sessions.find_one({"_id": domain.token_key(token)})
        if session is None or session["expires_at"] <= now():
            raise Unauthorized("登录已过期，请重新登录。", "SESSION_EXPIRED")
        return session["principal"]

    @rpc
    def logout(self, token: str) -> dict:
        if isinstance(token, str):
            self.store.db.sessions.delete_one({"_id": domain.token_key(token)})
        return {"status": "ok"}

    @rpc
    def ping(self) -> str:
        self.store.db.command("ping")
        return "ok"
