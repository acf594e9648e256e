"""A person's data as a service hands it over for a copy of it (``personal_data`` RPCs): plain
JSON values, and never what only proves who someone is (password hashes, token hashes, codes)."""

from __future__ import annotations

import datetime as dt
from typing import Any

SECRET_FIELDS = frozenset({"password_hash", "token_hash", "code_hash", "key", "secret"})


def plain(value: Any) -> Any:
    """Times as ISO 8601 text, ids as text, the secret fields left out, recursively."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items() if k not in SECRET_FIELDS}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def records(cursor) -> list[dict]:
    return [plain(doc) for doc in cursor]


# The fields of an event, a record or a row that say who someone is or how to reach them
# (whoever they are about); free texts that may name someone are in TEXT_KEYS.
PERSONAL_KEYS = frozenset(
    {
        "name",
        "display_name",
        "phone",
        "email",
        "contact_name",
        "contact_phone",
        "union_card",
        "address",
        "client",
        "volunteer_name",
        "enterprise_contact",
    }
)
TEXT_KEYS = frozenset({"title", "body", "comment", "reason", "note", "text"})
REDACTED = "（已删除）"
ERASED = "（已注销）"


def redact(value: Any, keys: frozenset[str] = PERSONAL_KEYS) -> tuple[Any, int]:
    """``value`` with every field named in ``keys`` (at any depth) set to None where it held
    something; and how many fields it cleared. What counts (ids, numbers, times) stays."""
    if isinstance(value, dict):
        out, cleared = {}, 0
        for key, item in value.items():
            if key in keys and item not in (None, "", [], {}):
                out[key] = None
                cleared += 1
            else:
                out[key], n = redact(item, keys)
                cleared += n
        return out, cleared
    if isinstance(value, list):
        out_list, cleared = [], 0
        for item in value:
            item, n = redact(item, keys)
            out_list.append(item)
            cleared += n
        return out_list, cleared
    return value, 0


def needles(values) -> list[str]:
    """The texts that say who one person is (name, phone, card number, username, email), as
    erasure looks for them: stripped, distinct, longest first, none shorter than two characters."""
    found = {str(v).strip() for v in values if v is not None and len(str(v).strip()) >= 2}
    return sorted(found, key=lambda s: (-len(s), s))


def scrub(value: Any, found: list[str], replacement: str = ERASED) -> tuple[Any, int]:
    """``value`` with every occurrence of the texts ``found`` replaced, in every string at any
    depth (keys stay); and how many strings it changed. Irreversible: nothing of the old text
    is kept."""
    if not found:
        return value, 0
    if isinstance(value, str):
        new = value
        for text in found:
            if text in new:
                new = new.replace(text, replacement)
        return new, int(new != value)
    if isinstance(value, dict):
        out, changed = {}, 0
        for key, item in value.items():
            out[key], n = scrub(item, found, replacement)
            changed += n
        return out, changed
    if isinstance(value, list):
        out_list, changed = [], 0
        for item in value:
            item, n = scrub(item, found, replacement)
            out_list.append(item)
            changed += n
        return out_list, changed
    return value, 0
