"""Which shard a key's events belong to (see ``common.consuming.by_shard``): the relay stamps each
event with one header per key it carries (``palace_id``, ``order_id``), the consuming service's
shard queues are bound by the header of the key it shards by.

The headers do not start with ``x-``: RabbitMQ's headers exchange leaves such headers out of the
match, so a binding on ``x-palace-shard`` matched every message and each shard queue got every
event (earlier versions did that: ``OLD_HEADERS`` names what they bound, for the clean-up)."""

from __future__ import annotations

import os
import re
import socket
import zlib

SHARDS = 16
SHARD_KEY = "palace_id"
# the key an event is sharded by → the header the relay stamps with its shard
HEADERS = {"palace_id": "palace-shard", "order_id": "order-shard"}
SHARD_HEADER = HEADERS[SHARD_KEY]
OLD_HEADERS = {"palace_id": "x-palace-shard"}

_ORDINAL = re.compile(r"-(\d+)$")


def shard_of(key) -> str:
    """The shard of a key, the same in every process: ``00`` … ``SHARDS - 1``."""
    return f"{zlib.crc32(str(key).encode()) % SHARDS:02d}"


def shard_headers(payload) -> dict:
    """The headers the relay puts on an event: one per key it carries."""
    if not isinstance(payload, dict):
        return {}
    return {header: shard_of(payload[key]) for key, header in HEADERS.items() if payload.get(key)}


def process_index(index: str | None = None, hostname: str | None = None) -> int | None:
    """Which of its service's processes this one is: ``PROCESS_INDEX`` when set; else, in a
    Kubernetes pod (or given ``hostname``), the ordinal ending the host name (a StatefulSet's pod
    ``dispatch-2`` is 2); else None (the process takes whichever shards are free)."""
    if index not in (None, ""):
        return int(index) if str(index).isdigit() else None
    if hostname is None:
        if not os.environ.get("KUBERNETES_SERVICE_HOST"):
            return None
        hostname = socket.gethostname()
    found = _ORDINAL.search(hostname)
    return int(found.group(1)) if found else None
