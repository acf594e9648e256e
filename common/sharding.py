"""Which shard a palace's events belong to (see ``common.consuming.by_shard``): the relay stamps
each event that carries ``palace_id`` with it, the consuming service's shard queues are bound by it."""

from __future__ import annotations

import zlib

SHARDS = 16
SHARD_HEADER = "x-palace-shard"
SHARD_KEY = "palace_id"


def shard_of(key) -> str:
    """The shard of a key, the same in every process: ``00`` … ``SHARDS - 1``."""
    return f"{zlib.crc32(str(key).encode()) % SHARDS:02d}"


def shard_headers(payload) -> dict:
    """The header the relay puts on an event that carries ``palace_id``."""
    key = payload.get(SHARD_KEY) if isinstance(payload, dict) else None
    return {SHARD_HEADER: shard_of(key)} if key else {}
