"""The dispatch database: the only file that knows its collections and indexes.

What the use cases read and write takes their unit of work (``uow``: the database and the
transaction's session); the service's own listings outside a transaction take the database, and
its reads of one record pass ``Reads(db)`` where a unit of work goes."""

from __future__ import annotations

import datetime as dt

from pymongo import ASCENDING, DESCENDING, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError

from common.errors import N_, NotFound
from common.personal import records
from common.store import find_in
from services.dispatch import domain

IMPORT_MINUTES = 30  # how long a preview can be confirmed

KINDS = {
    "palaces": ("palace_id", N_("找不到这个文化宫。"), "PALACE_NOT_FOUND"),
    "programs": ("program_id", N_("找不到这个节目。"), "PROGRAM_NOT_FOUND"),
    "troupes": ("troupe_id", N_("找不到这个艺术团。"), "TROUPE_NOT_FOUND"),
    "volunteers": ("volunteer_id", N_("找不到这位志愿者。"), "VOLUNTEER_NOT_FOUND"),
    "plans": ("order_id", N_("这个订单还没有派单安排。"), "PLAN_NOT_FOUND"),
    "offers": ("offer_id", N_("找不到这个邀约。"), "OFFER_NOT_FOUND"),
    "no_shows": ("no_show_id", N_("找不到这条缺席记录。"), "NO_SHOW_NOT_FOUND"),
    "alliances": ("alliance_id", N_("找不到这个文化宫联盟。"), "ALLIANCE_NOT_FOUND"),
    "loans": ("loan_id", N_("找不到这份借用申请。"), "LOAN_NOT_FOUND"),
}


def ensure_indexes(db) -> None:
    db.programs.create_index([("palace_id", ASCENDING), ("title", ASCENDING)])
    db.troupes.create_index([("palace_id", ASCENDING), ("name", ASCENDING)])
    db.troupes.create_index([("palace_id", ASCENDING), ("repertoire", ASCENDING)])
    db.volunteers.create_index([("palace_id", ASCENDING), ("name", ASCENDING)])
    db.volunteers.create_index([("palace_id", ASCENDING), ("skills", ASCENDING)])
    db.plans.create_index([("palace_id", ASCENDING), ("status", ASCENDING)])
    db.plans.create_index([("palace_id", ASCENDING), ("status", ASCENDING), ("first_start", ASCENDING)])
    db.plans.create_index([("palace_id", ASCENDING), ("start", ASCENDING)])
    db.plans.create_index([("hours.volunteer_id", ASCENDING), ("start", DESCENDING)])
    db.no_shows.create_index([("palace_id", ASCENDING), ("reported_at", DESCENDING)])
    db.no_shows.create_index([("volunteer_id", ASCENDING), ("reported_at", DESCENDING)])
    db.no_shows.create_index([("order_id", ASCENDING)])
    db.offers.create_index([("volunteer_id", ASCENDING), ("created_at", DESCENDING)])
    db.offers.create_index([("volunteer_id", ASCENDING), ("status", ASCENDING), ("created_at", DESCENDING)])
    db.offers.create_index([("order_id", ASCENDING), ("created_at", ASCENDING)])
    db.offers.create_index([("status", ASCENDING), ("deadline", ASCENDING)])
    db.offers.create_index([("palace_id", ASCENDING), ("status", ASCENDING), ("deadline", ASCENDING)])
    # no double booking: _id is "<volunteer>:<bucket>", unique by nature; these serve the queries
    db.bookings.create_index([("volunteer_id", ASCENDING), ("bucket", ASCENDING)], unique=True)
    db.bookings.create_index([("offer_id", ASCENDING)])
    db.bookings.create_index([("bucket", ASCENDING)])
    db.alliances.create_index([("palace_ids", ASCENDING)])
    db.alliances.create_index([("name", ASCENDING)])
    db.troupes.create_index([("palace_id", ASCENDING), ("shared", ASCENDING)])
    db.loans.create_index([("order_id", ASCENDING), ("status", ASCENDING)])
    db.loans.create_index([("owner_palace_id", ASCENDING), ("created_at", ASCENDING)])
    db.loans.create_index([("palace_id", ASCENDING), ("created_at", ASCENDING)])
    db.loans.create_index([("status", ASCENDING), ("expires_at", ASCENDING)])
    # an import's preview, kept until it is confirmed or IMPORT_MINUTES have passed
    db.imports.create_index([("created_at", ASCENDING)], expireAfterSeconds=IMPORT_MINUTES * 60)


def _out(kind: str, doc: dict | None) -> dict | None:
    if doc is None:
        return None
    doc = dict(doc)
    doc[KINDS[kind][0]] = doc.pop("_id")
    return doc


class Reads:
    """Where the service reads outside a transaction: the database, without a session, passed
    where a unit of work goes."""

    session = None

    def __init__(self, db):
        self.db = db


class _Records:
    """Reads of one collection by key (``_id``), each record with its key under its own name."""

    def __init__(self, kind: str, sort: str = "name"):
        self.kind, self.sort = kind, sort

    def get(self, uow, key: str) -> dict:
        """The record, or NotFound with the record's own message."""
        doc = uow.db[self.kind].find_one({"_id": key}, session=uow.session) if isinstance(key, str) else None
        if doc is None:
            _, message, code = KINDS[self.kind]
            raise NotFound(message, code)
        return _out(self.kind, doc)

    def find(self, uow, key: str) -> dict | None:
        """The record, or None."""
        return _out(self.kind, uow.db[self.kind].find_one({"_id": key}, session=uow.session))

    def by_ids(self, uow, keys: list[str]) -> list[dict]:
        """The records of these keys that exist (each once)."""
        if not keys:
            return []
        return [_out(self.kind, d) for d in find_in(uow.db[self.kind], "_id", sorted(set(keys)), session=uow.session)]

    # the catalogue and the people, written and listed by the service outside a transaction

    def upsert(self, db, data: dict) -> None:
        doc = dict(data)
        doc["_id"] = doc.pop(KINDS[self.kind][0])
        volunteers = self.kind == "volunteers"
        before = db.volunteers.find_one({"_id": doc["_id"]}, {"palace_id": 1}) if volunteers else None
        db[self.kind].replace_one({"_id": doc["_id"]}, doc, upsert=True)
        if volunteers:  # after the write: a process that read the old version reads again
            for palace_id in {doc.get("palace_id"), (before or {}).get("palace_id")} - {None}:
                directory_changed(db, palace_id)

    def listing(self, db, palace_id: str | None = None) -> list[dict]:
        """A palace's records (or everyone's), by palace and then by name (a program by title)."""
        query = {"palace_id": palace_id} if palace_id else {}
        if self.kind == "volunteers":  # an erased volunteer is nobody's to list
            query["erased"] = {"$ne": True}
        cursor = db[self.kind].find(query).sort([("palace_id", ASCENDING), (self.sort, ASCENDING)]).limit(5000)
        return [_out(self.kind, d) for d in cursor]


_PALACES, _PROGRAMS = _Records("palaces"), _Records("programs", sort="title")
_TROUPES, _VOLUNTEERS = _Records("troupes"), _Records("volunteers")
_PLANS, _OFFERS, _NO_SHOWS, _ALLIANCES, _LOANS = (
    _Records(k) for k in ("plans", "offers", "no_shows", "alliances", "loans")
)

# ``plan(uow, order_id)`` raises NotFound, ``find_plan(uow, order_id)`` gives None; and so on
palace, find_palace, palaces_by_ids = _PALACES.get, _PALACES.find, _PALACES.by_ids
program, find_program, programs_by_ids = _PROGRAMS.get, _PROGRAMS.find, _PROGRAMS.by_ids
troupe, find_troupe, troupes_by_ids = _TROUPES.get, _TROUPES.find, _TROUPES.by_ids
volunteer, find_volunteer, volunteers_by_ids = _VOLUNTEERS.get, _VOLUNTEERS.find, _VOLUNTEERS.by_ids
plan, find_plan = _PLANS.get, _PLANS.find
offer, find_offer = _OFFERS.get, _OFFERS.find
no_show, alliance, loan = _NO_SHOWS.get, _ALLIANCES.get, _LOANS.get
upsert_palace, upsert_program, upsert_troupe, upsert_volunteer = (
    r.upsert for r in (_PALACES, _PROGRAMS, _TROUPES, _VOLUNTEERS)
)
list_palaces, list_programs, list_troupes, list_volunteers = (
    r.listing for r in (_PALACES, _PROGRAMS, _TROUPES, _VOLUNTEERS)
)


# ------------------------------------------------------------------ the volunteer directory, kept in each process
#
# Planning an order looks at every volunteer of the palace with a needed skill. Reading them all
# for every order made its cost grow with the palace; each process keeps them instead, and asks
# the database only for the palace's directory version, which every change of a volunteer moves.
# (A volunteer written to the database by other means than ``upsert_volunteer`` must move it too.)

_directories: dict[tuple[str, str], tuple[int, list[dict]]] = {}


def directory_changed(db, palace_id: str, session=None) -> None:
    db.directory.update_one({"_id": palace_id}, {"$inc": {"version": 1}}, upsert=True, session=session)


def palace_volunteers(uow, palace_id: str) -> list[dict]:
    """Every volunteer of the palace, as of the version the transaction sees."""
    mark = uow.db.directory.find_one({"_id": palace_id}, session=uow.session)
    version = (mark or {}).get("version", 0)
    key = (uow.db.name, palace_id)
    kept = _directories.get(key)
    if kept is None or kept[0] != version:
        docs = [_out("volunteers", d) for d in uow.db.volunteers.find({"palace_id": palace_id}, session=uow.session)]
        kept = (version, docs)
        if len(_directories) > 1000:
            _directories.clear()
        _directories[key] = kept
    return kept[1]


def troupes_playing(uow, palace_id: str, program_ids: list[str]) -> list[dict]:
    cursor = uow.db.troupes.find({"palace_id": palace_id, "repertoire": {"$in": program_ids}}, session=uow.session)
    return [_out("troupes", d) for d in cursor]


def volunteers_with(uow, palace_id: str, skills: list[str]) -> list[dict]:
    wanted = set(skills)
    return [
        dict(v)
        for v in palace_volunteers(uow, palace_id)
        if wanted & set(v.get("skills") or ()) and not v.get("erased")
    ]


def _unique(write):
    """Run a write of several documents; a unique key that refuses one of them raises
    DuplicateKeyError, as a write of one document does (callers retry on it)."""
    try:
        return write()
    except BulkWriteError as err:
        errors = err.details.get("writeErrors") or []
        if errors and all(e.get("code") == 11000 for e in errors):
            raise DuplicateKeyError(errors[0].get("errmsg") or "duplicate key", 11000, errors[0]) from None
        raise


def book(uow, *offers: dict) -> None:
    """Hold the volunteers' time and half the rest gap on each side (``offer["pad_minutes"]``),
    in one statement; a DuplicateKeyError means somebody else holds part of it, or is too close."""
    docs = []
    for offer in offers:
        pad = dt.timedelta(minutes=offer.get("pad_minutes") or 0)
        docs.extend(
            {
                "_id": f"{offer['volunteer_id']}:{b}",
                "volunteer_id": offer["volunteer_id"],
                "bucket": b,
                "offer_id": offer["offer_id"],
                "order_id": offer["order_id"],
            }
            for b in domain.buckets(offer["start"] - pad, offer["end"] + pad)
        )
    if docs:
        _unique(lambda: uow.db.bookings.insert_many(docs, session=uow.session))


def held_buckets(uow, volunteer_ids: list[str], start, end, ignore_offers=frozenset()) -> dict[str, list[int]]:
    """The buckets each volunteer already holds between start and end (pads included)."""
    if not volunteer_ids:
        return {}
    span = domain.buckets(start, end)
    wanted = set(volunteer_ids)
    out: dict[str, list[int]] = {}
    # Everything booked in the window, by the bucket index, then the candidates kept here: the
    # cost follows how many are busy at that time, not how many candidates or how much history
    # (the embedded server walks a volunteer's whole history for a volunteer_id $in query).
    for d in uow.db.bookings.find(
        {"bucket": {"$gte": span.start, "$lt": span.stop}},
        {"volunteer_id": 1, "bucket": 1, "offer_id": 1},
        session=uow.session,
    ):
        if d["volunteer_id"] in wanted and d.get("offer_id") not in ignore_offers:
            out.setdefault(d["volunteer_id"], []).append(d["bucket"])
    return out


def offers_by_ids(uow, offer_ids: list[str]) -> list[dict]:
    return [_out("offers", d) for d in find_in(uow.db.offers, "_id", offer_ids, session=uow.session)]


# ------------------------------------------------------------------ limits, counted under a unique key


def planning_turn(uow, palace_id: str) -> None:
    """The palace's planning turn, the first write of a plan: plans of one palace read and count
    the same volunteers' loads, so a second process planning for the palace at the same moment
    conflicts here at once and runs again after a pause, instead of conflicting at the end of a
    whole plan (the loads) and planning again and again."""
    uow.db.planning.update_one({"_id": palace_id}, {"$inc": {"plans": 1}}, upsert=True, session=uow.session)


def take_loads(uow, takes: list[tuple[str, int, int]]) -> None:
    """Count each ``amount`` against its ``limit`` on the counter ``key``, in one statement: a
    counter still below its limit goes up, a missing one is made; one that would pass its limit
    is not matched, and the upsert of its existing key fails with DuplicateKeyError (the use
    case runs again and sees the count)."""
    for key, amount, limit in takes:
        if amount > limit:
            raise LimitReached(key)
    if takes:
        ops = [
            UpdateOne({"_id": key, "n": {"$lte": limit - amount}}, {"$inc": {"n": amount}}, upsert=True)
            for key, amount, limit in takes
        ]
        _unique(lambda: uow.db.loads.bulk_write(ops, ordered=True, session=uow.session))


def give_load(uow, key: str, amount: int) -> None:
    uow.db.loads.update_one({"_id": key}, {"$inc": {"n": -amount}}, session=uow.session)


def loads(uow, keys: list[str]) -> dict[str, int]:
    if not keys:
        return {}
    return {d["_id"]: d["n"] for d in find_in(uow.db.loads, "_id", keys, session=uow.session)}


class LimitReached(Exception):
    """More than the whole limit asked at once (a single booking longer than a month's hours)."""


# ------------------------------------------------------------------ how long since a place was served


def last_served(uow, keys: list[str]) -> dict[str, dt.datetime]:
    return {d["_id"]: d["at"] for d in find_in(uow.db.reach, "_id", keys, session=uow.session)}


def mark_served(db, keys: list[str], at: dt.datetime) -> None:
    """Outside the delivery's transaction: every delivery of an enterprise or a district writes
    these documents, and concurrent ones would conflict and run again. ``$max`` makes the order
    of the writes and a repeat irrelevant; a process killed before it leaves the mark older,
    which only ranks that enterprise a little more underserved until its next delivery."""
    for key in keys:
        db.reach.update_one({"_id": key}, {"$max": {"at": at}}, upsert=True)


# ------------------------------------------------------------------ no-shows


def insert_no_show(uow, record: dict) -> None:
    doc = dict(record)
    doc["_id"] = doc.pop("no_show_id")
    uow.db.no_shows.insert_one(doc, session=uow.session)


def save_no_show(uow, record: dict) -> None:
    doc = dict(record)
    doc["_id"] = doc.pop("no_show_id")
    uow.db.no_shows.replace_one({"_id": doc["_id"]}, doc, session=uow.session)


def no_shows(db, *, palace_id: str | None = None, volunteer_id: str | None = None, order_id: str | None = None):
    query = {k: v for k, v in (("palace_id", palace_id), ("volunteer_id", volunteer_id), ("order_id", order_id)) if v}
    return [_out("no_shows", d) for d in db.no_shows.find(query).sort("reported_at", DESCENDING).limit(500)]


def deliveries(db, palace_id: str, start, end) -> list[dict]:
    """Scheduled and delivered plans of a palace that start between start and end, by time."""
    cursor = (
        db.plans.find(
            {
                "palace_id": palace_id,
                "start": {"$gte": start, "$lt": end},
                "status": {"$in": ["scheduled", "delivered"]},
            }
        )
        .sort("start", ASCENDING)
        .limit(2000)
    )
    return [_out("plans", d) for d in cursor]


def hours_of_volunteer(db, volunteer_id: str, limit: int = 500) -> list[dict]:
    """Delivered services a volunteer was counted in, newest first."""
    cursor = db.plans.find({"hours.volunteer_id": volunteer_id}).sort("start", DESCENDING).limit(limit)
    return [_out("plans", d) for d in cursor]


def open_plans(uow, palace_id: str, start, end) -> list[dict]:
    cursor = uow.db.plans.find(
        {
            "palace_id": palace_id,
            "status": {"$in": ["planning", "unfulfillable"]},
            "first_start": {"$gte": start, "$lt": end},
        },
        session=uow.session,
    )
    return [_out("plans", d) for d in cursor]


def claim_nightly(db, palace_id: str, day: str) -> bool:
    """One process per night runs a palace's re-planning: the first to move the mark wins."""
    done = db.palaces.update_one({"_id": palace_id, "nightly_done": {"$ne": day}}, {"$set": {"nightly_done": day}})
    return done.modified_count == 1


def release(uow, offer_id: str) -> None:
    uow.db.bookings.delete_many({"offer_id": offer_id}, session=uow.session)


def insert_offer(uow, *offers: dict) -> None:
    docs = [{"_id": o["offer_id"], **{k: v for k, v in o.items() if k != "offer_id"}} for o in offers]
    if docs:
        uow.db.offers.insert_many(docs, session=uow.session)


def save_offer(uow, offer: dict) -> None:
    doc = dict(offer)
    doc["_id"] = doc.pop("offer_id")
    uow.db.offers.replace_one({"_id": doc["_id"]}, doc, session=uow.session)


def offers_of_order(uow, order_id: str) -> list[dict]:
    cursor = uow.db.offers.find({"order_id": order_id}, session=uow.session).sort("created_at", ASCENDING)
    return [_out("offers", d) for d in cursor]


def offers_of_volunteer(db, volunteer_id: str, status: str | None) -> list[dict]:
    query = {"volunteer_id": volunteer_id, **({"status": status} if status else {})}
    return [_out("offers", d) for d in db.offers.find(query).sort("created_at", DESCENDING).limit(500)]


def pending_offers(db, palace_id: str) -> list[dict]:
    cursor = db.offers.find({"palace_id": palace_id, "status": "pending"}).sort("deadline", ASCENDING).limit(1000)
    return [_out("offers", d) for d in cursor]


def overdue_offer_ids(db, at, limit: int = 100) -> list[str]:
    return [d["_id"] for d in db.offers.find({"status": "pending", "deadline": {"$lt": at}}, {"_id": 1}).limit(limit)]


def save_plan(uow, plan: dict) -> None:
    doc = dict(plan)
    doc["_id"] = doc.pop("order_id")
    uow.db.plans.replace_one({"_id": doc["_id"]}, doc, upsert=True, session=uow.session)


# ------------------------------------------------------------------ the alliance of palaces (队伍联用)


def alliance_of(uow, palace_id: str) -> dict | None:
    """The alliance a palace belongs to (a palace is in one alliance at most)."""
    return _out("alliances", uow.db.alliances.find_one({"palace_ids": palace_id}, session=uow.session))


def alliances(db) -> list[dict]:
    return [_out("alliances", d) for d in db.alliances.find({}).sort("name", ASCENDING).limit(500)]


def palaces_in_alliances(uow, palace_ids: list[str]) -> list[str]:
    cursor = uow.db.alliances.find({"palace_ids": {"$in": palace_ids}}, session=uow.session)
    return sorted({p for d in cursor for p in d["palace_ids"]} & set(palace_ids))


def insert_alliance(uow, alliance: dict) -> None:
    doc = dict(alliance)
    doc["_id"] = doc.pop("alliance_id")
    uow.db.alliances.insert_one(doc, session=uow.session)


def set_shared(uow, troupe_id: str, shared: bool) -> None:
    uow.db.troupes.update_one({"_id": troupe_id}, {"$set": {"shared": shared}}, session=uow.session)


def shared_troupes(uow, palace_ids: list[str]) -> list[dict]:
    cursor = uow.db.troupes.find({"palace_id": {"$in": palace_ids}, "shared": True}, session=uow.session)
    return sorted((_out("troupes", d) for d in cursor), key=lambda t: (t["palace_id"], t["name"]))


def insert_loan(uow, loan: dict) -> None:
    doc = dict(loan)
    doc["_id"] = doc.pop("loan_id")
    uow.db.loans.insert_one(doc, session=uow.session)


def save_loan(uow, loan: dict) -> None:
    doc = dict(loan)
    doc["_id"] = doc.pop("loan_id")
    uow.db.loans.replace_one({"_id": doc["_id"]}, doc, session=uow.session)


def loans_of_order(uow, order_id: str, statuses=domain.LOAN_OPEN) -> list[dict]:
    cursor = uow.db.loans.find({"order_id": order_id, "status": {"$in": list(statuses)}}, session=uow.session)
    return [_out("loans", d) for d in cursor]


def loans_of_palace(db, field: str, palace_id: str, limit: int = 200) -> list[dict]:
    """A palace's loans, newest first: ``owner_palace_id`` (asked of it) or ``palace_id`` (asked by it)."""
    cursor = db.loans.find({field: palace_id}).sort("created_at", ASCENDING)
    return [_out("loans", d) for d in cursor][::-1][:limit]


def overdue_loan_ids(db, at, limit: int = 100) -> list[str]:
    return [d["_id"] for d in db.loans.find({"status": "pending", "expires_at": {"$lt": at}}, {"_id": 1}).limit(limit)]


# ------------------------------------------------------------------ lists imported from spreadsheets


def palace_records(db, kind: str, palace_id: str) -> list[dict]:
    """Every record of a kind of the palace (an import compares a file with all of them), by name."""
    order = "title" if kind == "programs" else "name"
    cursor = db[kind].find({"palace_id": palace_id}).sort([("palace_id", ASCENDING), (order, ASCENDING)])
    return [_out(kind, d) for d in cursor]


def ids_elsewhere(db, kind: str, palace_id: str, ids: list[str]) -> set[str]:
    """Which of ``ids`` other palaces' records of a kind already hold."""
    docs = find_in(db[kind], "_id", sorted(set(ids)), projection={"palace_id": 1})
    return {d["_id"] for d in docs if d.get("palace_id") != palace_id}


def upsert_records(db, kind: str, records: list[dict], new_ids=frozenset(), session=None) -> None:
    """Writes an import's records, the new ones (``new_ids``) inserted in one statement and the
    others updated in another: each record's fields are set, what the import does not know of (a
    volunteer's free time, a troupe's sharing) stays. (The embedded database inserts a batch
    ten times faster than it updates one document after another, and updates a batch within one
    transaction twice as fast as outside one.) Within a transaction (``session``) a record
    created meanwhile by someone else fails the whole transaction (DuplicateKeyError)."""
    key = KINDS[kind][0]
    docs = [{"_id": r[key], **{k: v for k, v in r.items() if k != key}} for r in records]
    fresh = [d for d in docs if d["_id"] in new_ids]
    rest = [d for d in docs if d["_id"] not in new_ids]
    if fresh:
        try:
            db[kind].insert_many(fresh, ordered=False, session=session)
        except BulkWriteError as err:  # created meanwhile by someone else: set their fields instead
            errors = err.details.get("writeErrors") or []
            if session is not None and errors and all(e.get("code") == 11000 for e in errors):
                raise DuplicateKeyError("created meanwhile", 11000) from None  # the transaction is lost
            if session is not None:
                raise
            failed = {fresh[e["index"]]["_id"] for e in err.details.get("writeErrors") or [] if e.get("code") == 11000}
            if len(failed) != len(err.details.get("writeErrors") or []):
                raise
            rest += [d for d in fresh if d["_id"] in failed]
    if rest:
        db[kind].bulk_write(
            [
                UpdateOne({"_id": d["_id"]}, {"$set": {k: v for k, v in d.items() if k != "_id"}}, upsert=True)
                for d in rest
            ],
            ordered=False,
            session=session,
        )
    if kind == "volunteers" and docs:
        for palace_id in {d.get("palace_id") for d in docs} - {None}:
            directory_changed(db, palace_id, session)


def save_import(db, preview: dict) -> None:
    doc = dict(preview)
    doc["_id"] = doc.pop("preview_id")
    db.imports.insert_one(doc)


def find_import(db, preview_id: str) -> dict | None:
    doc = db.imports.find_one({"_id": preview_id}) if isinstance(preview_id, str) else None
    if doc is not None:
        doc["preview_id"] = doc.pop("_id")
    return doc


def drop_import(db, preview_id: str, session=None) -> bool:
    """Takes the preview away; False when another confirm took it first."""
    return db.imports.delete_one({"_id": preview_id}, session=session).deleted_count == 1


def personal_data(db, volunteer_id: str | None) -> dict:
    """What dispatch holds about a volunteer: the record (name, phone, card, districts, skills,
    free time), offers, the times booked, the deliveries served with their hours, no-shows."""
    if not volunteer_id:
        return {}
    return {
        "volunteer": records(db.volunteers.find({"_id": volunteer_id})),
        "offers": records(db.offers.find({"volunteer_id": volunteer_id})),
        "bookings": records(db.bookings.find({"volunteer_id": volunteer_id})),
        "deliveries": [
            {k: v for k, v in plan.items() if k in ("_id", "order_id", "palace_id", "start", "end", "status")}
            | {"hours": [h for h in plan.get("hours") or [] if h.get("volunteer_id") == volunteer_id]}
            for plan in records(db.plans.find({"hours.volunteer_id": volunteer_id}))
        ],
        "no_shows": records(db.no_shows.find({"volunteer_id": volunteer_id})),
        "lending": records(db.lending.find({"_id": volunteer_id})),
    }


def lending(uow, volunteer_ids: list[str]) -> dict[str, dict]:
    """The volunteers' consents to be lent to alliance palaces (kept apart from their records,
    which a dispatcher rewrites whole); absent is no."""
    return {d["_id"]: d for d in find_in(uow.db.lending, "_id", volunteer_ids, session=uow.session)}


def set_lending(db, volunteer_id: str, allowed: bool, at) -> dict:
    doc = {"_id": volunteer_id, "allowed": allowed, "at": at}
    db.lending.replace_one({"_id": volunteer_id}, doc, upsert=True)
    return doc


# ------------------------------------------------------------------ erasure


def open_offers_of_volunteer(uow, volunteer_id: str) -> list[dict]:
    """A volunteer's offers still pending or accepted (deliveries to come among them)."""
    cursor = uow.db.offers.find(
        {"volunteer_id": volunteer_id, "status": {"$in": ["pending", "accepted"]}}, session=uow.session
    ).sort("created_at", ASCENDING)
    return [_out("offers", d) for d in cursor]


def anonymise_volunteer(uow, volunteer_id: str, name: str) -> dict | None:
    """An erased volunteer's record keeps only what the counts need (id, palace, skills): no
    name, phone, card, home district or free time, and no troupe; nobody plans them again."""
    doc = uow.db.volunteers.find_one({"_id": volunteer_id}, session=uow.session)
    if doc is None:
        return None
    kept = {k: doc[k] for k in ("_id", "palace_id", "skills") if k in doc}
    kept |= {"name": name, "phone": None, "union_card": None, "district": None, "availability": [], "erased": True}
    kept["troupe_ids"] = []
    uow.db.volunteers.replace_one({"_id": volunteer_id}, kept, session=uow.session)
    uow.db.troupes.update_many(
        {"palace_id": doc.get("palace_id"), "members": volunteer_id},
        {"$pull": {"members": volunteer_id}},
        session=uow.session,
    )
    uow.db.lending.delete_one({"_id": volunteer_id}, session=uow.session)
    if doc.get("palace_id"):
        directory_changed(uow.db, doc["palace_id"], session=uow.session)
    return doc
