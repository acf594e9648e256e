"""The claim code a new volunteer is sent to open their account.

A code is derived from its invitation's id with ``INVITE_SECRET`` (HMAC-SHA256): accounts, which
issues invitations, and notifications, which sends them, both hold the secret, so the events
between them carry only the invitation's id and no code travels or is archived in clear.
Accounts stores a keyed hash of the code, never the code. Eight characters of an alphabet without
0/O, 1/I (40 bits), typed on a phone as ``ABCD-EFGH``; lower case, spaces, dashes and full-width
characters are accepted.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # 32 symbols: 5 bits each
LENGTH = 8


def code_for(secret: str, invitation_id: str) -> str:
    """The invitation's code (8 characters of ``ALPHABET``)."""
    digest = hmac.new(secret.encode(), b"code:" + invitation_id.encode(), hashlib.sha256).digest()
    number = int.from_bytes(digest[:5], "big")  # 40 bits
    return "".join(ALPHABET[(number >> (5 * i)) & 31] for i in reversed(range(LENGTH)))


def normal(typed: str) -> str:
    """A code as typed, in the form it was made: upper case, without spaces or dashes."""
    text = unicodedata.normalize("NFKC", typed or "").upper()
    return "".join(c for c in text if c.isalnum())


def key_of(secret: str, code: str) -> str:
    """What accounts stores and looks a typed code up by: a keyed hash, so the database alone does
    not give the codes away (40 bits would not survive an offline search of a plain hash)."""
    return hmac.new(secret.encode(), b"key:" + normal(code).encode(), hashlib.sha256).hexdigest()


def shown(code: str) -> str:
    """A code as a person reads it: ``ABCD-EFGH``."""
    return f"{code[:4]}-{code[4:]}"


def last4(phone: str | None) -> str:
    """The last four digits of a phone number (the claim's second check)."""
    digits = "".join(c for c in unicodedata.normalize("NFKC", phone or "") if c.isdigit())
    return digits[-4:]
