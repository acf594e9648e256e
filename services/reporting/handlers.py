"""Reporting use cases: take in an event, rebuild the projections from the archive, answer."""

from __future__ import annotations

import datetime as dt

from common.consuming import load_or_park
from common.errors import Conflict
from contracts.base import schema_of
from contracts.events import EVENTS, load_event
from services.reporting import domain, repository

REBUILD_BATCH = 1000


def take_in_batch(store, messages: list, consumer: str) -> dict:
    """Archive many events, of any kinds, in one transaction: ``(exchange, event type, body)``
    as they came off the broker. The archive is keyed by event id, so a redelivered one changes
    nothing; the projector (``drain``) counts them moments later, and during a rebuild the
    rebuild counts them in their turn, so nothing is counted twice or skipped. One that breaks
    its contract is parked with the reason."""
    events = []
    for exchange, event_type, body in messages:
        source = exchange.removesuffix(".events")
        data = load_or_park(store, source, event_type, body, consumer)
        if data is None:
            continue
        payload = schema_of(EVENTS[(source, event_type)].schema).dump(data)  # JSON-ready, as it travelled
        events.append((source, event_type, payload, data["occurred_at"]))
    if not events:
        return {"archived": 0, "repeated": 0}
    new = store.transaction(lambda uow: repository.archive_many(uow.db, events, uow.session))
    return {"archived": new, "repeated": len(events) - new}


def project_events(db, events: list[dict], session=None) -> int:
    """Project events in order, looking up what is remembered of their orders; one write batch."""
    order_ids = sorted({e["order_id"] for e in events if e.get("order_id")})
    known = repository.orders_of(db, order_ids, session) if order_ids else {}
    ops = domain.Ops()
    for event in events:
        oid = event.get("order_id")
        order = ops.orders.get(oid) or known.get(oid)
        domain.project(event, order, ops)
    return repository.apply(db, ops, session)


def rebuild(store, by: str, progress=None) -> dict:
    """Throw the projections away and replay the whole archive, oldest first. One rebuild at a
    time; consumers only archive meanwhile, and what they archived is projected in its turn."""
    db = store.db
    started = dt.datetime.now(dt.UTC)
    if not repository.take_rebuild_lock(db, by):
        raise Conflict("统计数据正在重建中，请稍后再试。", "REBUILD_RUNNING")
    try:
        repository.drop_projections(db)
        total = repository.mark_all_unprojected(db)
        done = drain(store, progress, total, exclusive=True)
    finally:
        repository.release_rebuild_lock(db)
    done += drain(store)  # what consumers archived while the lock was being released
    return {"events": done, "seconds": round((dt.datetime.now(dt.UTC) - started).total_seconds(), 2)}


def drain(store, progress=None, total: int = 0, exclusive: bool = False) -> int:
    """Project archived events the projections do not hold yet, oldest first, a batch per
    transaction. Under the rebuild lock nobody else projects them; otherwise the batch is
    claimed in the transaction, so two processes draining at once count each event once (the
    later one conflicts, is retried and finds the events claimed)."""
    done = 0
    while True:
        docs = repository.unprojected(store.db, REBUILD_BATCH)
        if not docs:
            return done

        def work(uow, docs=docs):
            if exclusive:
                mine = docs
            else:
                still = repository.still_unprojected(uow.db, [d["_id"] for d in docs], uow.session)
                mine = [d for d in docs if d["_id"] in still]
            repository.claim(uow.db, [d["_id"] for d in mine], uow.session)
            events = [{**load_event(d["source"], d["type"], d["payload"]), "event_type": d["type"]} for d in mine]
            project_events(uow.db, events, uow.session)
            return len(mine)

        done += store.transaction(work) or 0
        if progress:
            progress(done, total)
        if len(docs) < REBUILD_BATCH:
            return done


# ------------------------------------------------------------------ answers (each a few reads of pre-aggregated rows)


def dashboard(db, palace: str, start: str, end: str) -> dict:
    periods = domain.periods(start, end)
    months_in = domain.months_between(start, end)
    totals = domain.summed(repository.facts(db, palace, "all", periods))
    by_month = {r["month"]: r for r in repository.facts(db, palace, "all", months_in)}
    months = [
        {"month": m, **domain.figures(domain.summed([by_month[m]] if m in by_month else []))}
        for m in domain.months_between(start, end)
    ]
    out = {"palace_id": palace, "start": start, "end": end, "totals": domain.figures(totals), "months": months}
    for dim in ("district", "program", "troupe", "enterprise", "wanted"):
        out[f"by_{dim}"] = domain.breakdown(repository.facts(db, palace, dim, periods), totals["placed"])
    return out


def volunteers(db, palace: str, start: str, end: str, limit: int = 50) -> dict:
    rows = repository.volunteer_months(db, palace, domain.periods(start, end))
    return {"palace_id": palace, "start": start, "end": end, "items": domain.leaderboard(rows, limit)}


def coverage(db, palace: str, months: int, now: dt.datetime) -> dict:
    cutoff = now - dt.timedelta(days=30 * months)
    out = {"palace_id": palace, "months": months, "since": cutoff.isoformat()}
    for kind in ("enterprise", "district"):
        out[kind] = [
            {"key": r["key"], "last_served": r["last_served"].isoformat(), "deliveries": r.get("deliveries", 0)}
            for r in repository.not_reached_since(db, palace, kind, cutoff)
        ]
    return out


def comments(db, palace: str, limit: int = 50) -> list[dict]:
    return [
        {**{k: v for k, v in c.items() if k not in ("_id", "at")}, "response_id": c["_id"], "at": c["at"].isoformat()}
        for c in repository.comments(db, palace, min(max(limit, 1), 500))
    ]


def volunteer_record(db, volunteer_id: str) -> dict:
    rows = repository.volunteer_history(db, volunteer_id)
    months = [
        {"month": r["month"], "hours": round(r.get("hours", 0), 1), "deliveries": int(r.get("deliveries", 0))}
        for r in rows
        if r.get("hours") or r.get("deliveries")
    ]
    return {
        "volunteer_id": volunteer_id,
        "months": months,
        "hours": round(sum(m["hours"] for m in months), 1),
        "deliveries": sum(m["deliveries"] for m in months),
    }
