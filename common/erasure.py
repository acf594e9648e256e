"""A person erased from one service's own database.

When ``person_erased`` arrives, a service first does what its domain asks (dispatch replaces the
volunteer in the deliveries to come, notifications forgets where it reached them), and in the
same transaction remembers an erasure job (``remember``). The job then goes through every
collection of the service's database (``run``): every text that says who the person is (their
name, phone, card number, email) is replaced wherever it occurs, and a value that is their
username becomes the erasure's pseudonym, so that what they did still adds up under one
anonymous name. Ids, numbers and times stay, so every count stays right.

The job is kept until it has been through everything, so a process stopped half-way is
finished by the next (replacing is idempotent); then its texts are forgotten and only the
counts of what it changed remain. Writes are per field, conditioned on the field still holding
what was read, so a change made meanwhile by a transaction is never overwritten: that document
is read again.
"""

from __future__ import annotations

import logging
from typing import Any

from pymongo import UpdateOne

from common.personal import ERASED, needles
from contracts.base import now

log = logging.getLogger(__name__)

JOBS = "erasure_jobs"
# what an erasure never rewrites: its own jobs, the handled event ids, the relay's leases
UNTOUCHED = frozenset({JOBS, "inbox", "outbox_lease"})
BATCH = 500
FINISH_SECONDS = 60
_indexed: set[str] = set()


def _is_id(key: str | None) -> bool:
    return bool(key) and (key == "_id" or key.endswith("_id") or key.endswith("_ids"))


def replace(value: Any, texts: list[str], usernames: dict[str, str], key: str | None = None) -> Any:
    """``value`` with the person's texts replaced in every string and their username, where a
    field holds exactly it (not in ids: a volunteer's id may be spelt like their username), set to
    the pseudonym."""
    if isinstance(value, str):
        if value in usernames and not _is_id(key):
            return usernames[value]
        for text in texts:
            if text in value:
                value = value.replace(text, ERASED)
        return value
    if isinstance(value, dict):
        return {k: replace(v, texts, usernames, k) for k, v in value.items()}
    if isinstance(value, list):
        return [replace(v, texts, usernames, key) for v in value]
    return value


def job(erasure: dict) -> dict:
    """The job of an erasure (a ``person_erased`` event): what to look for and what to put."""
    usernames = [[erasure["username"], erasure["pseudonym"]]] if erasure.get("username") else []
    return {
        "_id": erasure["erasure_id"],
        "texts": needles(erasure.get("texts") or []),
        "usernames": usernames,
        "pseudonym": erasure["pseudonym"],
        "done_at": None,
    }


def remember(uow, erasure: dict) -> None:
    """Keep the job with the transaction that handles the erasure (once per erasure)."""
    doc = job(erasure)
    uow.db[JOBS].update_one({"_id": doc["_id"]}, {"$setOnInsert": doc}, upsert=True, session=uow.session)


def scrub_collection(coll, texts: list[str], usernames: dict[str, str]) -> int:
    """Replace the person's texts in every document of one collection; how many it changed."""
    changed = 0
    ops: list[UpdateOne] = []

    def flush() -> None:
        nonlocal changed, ops
        if not ops:
            return
        result = coll.bulk_write(ops, ordered=False)
        changed += result.modified_count
        if result.matched_count < len(ops):  # changed meanwhile: read those again
            for op in ops:
                doc = coll.find_one({"_id": op._filter["_id"]})
                if doc is not None:
                    changed += _rewrite_one(coll, doc, texts, usernames)
        ops = []

    for doc in coll.find({}):
        sets = _changes(doc, texts, usernames)
        if sets:
            ops.append(UpdateOne({"_id": doc["_id"], **{k: doc[k] for k in sets}}, {"$set": sets}))
        if len(ops) >= BATCH:
            flush()
    flush()
    return changed


def _changes(doc: dict, texts: list[str], usernames: dict[str, str]) -> dict:
    """The top-level fields of ``doc`` the erasure changes, with their new values."""
    return {k: new for k, v in doc.items() if k != "_id" and (new := replace(v, texts, usernames, k)) != v}


def _rewrite_one(coll, doc: dict, texts: list[str], usernames: dict[str, str], tries: int = 5) -> int:
    for _ in range(tries):
        sets = _changes(doc, texts, usernames)
        if not sets:
            return 0
        if coll.update_one({"_id": doc["_id"], **{k: doc[k] for k in sets}}, {"$set": sets}).modified_count:
            return 1
        doc = coll.find_one({"_id": doc["_id"]})
        if doc is None:
            return 0
    log.warning("erasure: %s %r kept changing; the next run replaces what is left", coll.name, doc["_id"])
    return 0


def run(db) -> list[dict]:
    """Finish every erasure job not yet done; returns what each changed, per collection."""
    if db.name not in _indexed:
        db[JOBS].create_index("done_at")
        _indexed.add(db.name)
    finished = []
    for pending in list(db[JOBS].find({"done_at": None})):
        texts, usernames = pending.get("texts") or [], dict(pending.get("usernames") or [])
        counts = {}
        for name in sorted(db.list_collection_names()):
            if name in UNTOUCHED or name.startswith("system."):
                continue
            n = scrub_collection(db[name], texts, usernames)
            if n:
                counts[name] = n
        db[JOBS].update_one(
            {"_id": pending["_id"]},
            {"$set": {"done_at": now(), "changed": counts, "texts": [], "usernames": []}},
        )
        log.info("erasure %s: %d documents anonymised %s", pending["_id"], sum(counts.values()), counts)
        finished.append({"erasure_id": pending["_id"], "changed": counts})
    return finished


def pending(db) -> int:
    return db[JOBS].count_documents({"done_at": None})


def entrypoints(forget=None, *, one_at_a_time: str | None = None, store_attr: str = "store"):
    """A service's two erasure entrypoints, to put in its class body:

        handle_person_erased, finish_erasures = erasure.entrypoints(repository.forget_person)

    ``forget(event, uow)`` first does what the service's domain asks (delete what was only the
    person's, hand their work to others); then the job is kept in the same transaction and run
    once it is committed. A timer finishes the jobs a stopped process left half-way."""
    from nameko.timer import timer

    from common.consuming import consumes

    def handle_person_erased(self, event, uow):
        if forget is not None:
            forget(event, uow)
        remember(uow, event)
        store = getattr(self, store_attr)
        uow.after_commit(lambda: run(store.db))

    def finish_erasures(self):
        store = getattr(self, store_attr)
        if pending(store.db) and store.holds("erasure"):
            run(store.db)

    handle_person_erased.__doc__ = "A person erased: what this service holds of them is removed or anonymised."
    finish_erasures.__doc__ = "Erasure jobs a stopped process left half-way are finished (one process at a time)."
    return (
        consumes("accounts", "person_erased", one_at_a_time=one_at_a_time, store_attr=store_attr)(handle_person_erased),
        timer(interval=FINISH_SECONDS)(finish_erasures),
    )
