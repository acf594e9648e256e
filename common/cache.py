"""Answers of other services kept in a process's memory for a while, forgotten early on a signal
(``contracts.signals``).

An answer asked for before a signal arrived is not kept: it may be older than what the signal
told. With a time limit of 0 nothing is kept (every call asks again).
"""

from __future__ import annotations

from typing import Any, Hashable

from cachetools import TTLCache


class SignalledCache:
    def __init__(self, size: int, seconds: float):
        self._entries: TTLCache | None = TTLCache(maxsize=max(size, 1), ttl=seconds) if seconds > 0 else None
        self._generation = 0

    def get(self, key: Hashable) -> Any | None:
        return None if self._entries is None else self._entries.get(key)

    def stamp(self) -> int:
        """Taken before asking: ``put`` keeps the answer only if nothing was forgotten since."""
        return self._generation

    def put(self, key: Hashable, value: Any, stamp: int) -> None:
        if self._entries is not None and stamp == self._generation:
            self._entries[key] = value

    def forget(self, key: Hashable | None = None) -> None:
        """Forget one entry, or every entry (``None``)."""
        self._generation += 1
        if self._entries is None:
            return
        if key is None:
            self._entries.clear()
        else:
            self._entries.pop(key, None)
