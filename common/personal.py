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
