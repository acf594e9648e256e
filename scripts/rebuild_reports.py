"""Rebuild the statistics from the event archive (`make reports-rebuild`).

The projections of services/reporting are disposable: this throws them away and replays every
archived event, oldest first, through the same projector, with a progress bar. The reporting
service may keep running: while the rebuild holds its lock, new events are archived and then
projected in their turn. Environment: MONGO_URI, DB_PREFIX (as for the services).
"""

from __future__ import annotations

import os
import sys

from pymongo import MongoClient
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from common.config import DEFAULTS  # noqa: E402
from common.store import Store  # noqa: E402
from services.reporting import handlers, repository  # noqa: E402


def main() -> int:
    uri = os.environ.get("MONGO_URI", DEFAULTS["MONGO_URI"])
    name = os.environ.get("DB_PREFIX", "") + "reporting"
    client = MongoClient(uri, tz_aware=True)
    store = Store(client, name, "reporting", os.environ.get("AMQP_URI", DEFAULTS["AMQP_URI"]), {})
    repository.ensure_indexes(store.db)
    total = repository.count_archived(store.db)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ) as progress:
        task = progress.add_task("events replayed", total=total)
        result = handlers.rebuild(store, "make reports-rebuild", lambda done, _: progress.update(task, completed=done))
    print(f"rebuilt from {result['events']:,} archived events in {result['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
