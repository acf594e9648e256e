"""Signals: told to every running process of the services that listen, and not kept.

A signal says that something other processes may hold in memory has changed: a session ended
(the gateway's processes forget it), the accounts changed (notifications forget whom they knew
as recipients). Signals travel as nameko broadcast events from accounts (``accounts.events``,
one queue per listening process, deleted with it), without outbox or inbox: a process away
from the broker when one is sent keeps the stale entry no longer than its cache's time limit
(``SESSION_CACHE_SECONDS``, ``RECIPIENTS_CACHE_SECONDS``).
"""

from __future__ import annotations

import hashlib

from marshmallow import EXCLUDE, Schema

from contracts.base import fields

SOURCE = "accounts"
SESSION_ENDED = "session_ended"
ACCOUNTS_CHANGED = "accounts_changed"


def token_key(token: str) -> str:
    """How a bearer token is known outside the request that carries it (stored, signalled)."""
    return hashlib.sha256(token.encode()).hexdigest()


class SessionEnded(Schema):
    """A session was ended (signed out) before its time."""

    class Meta:
        unknown = EXCLUDE

    token_key = fields.String(required=True)


class AccountsChanged(Schema):
    """Accounts were created, approved or rejected: who is told of what may have changed."""

    class Meta:
        unknown = EXCLUDE

    usernames = fields.List(fields.String(), required=True)


SIGNALS = {SESSION_ENDED: SessionEnded, ACCOUNTS_CHANGED: AccountsChanged}
