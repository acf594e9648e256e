"""The audit service's use cases: take events in, record accesses, answer the log."""

from __future__ import annotations

import datetime as dt

from common.consuming import load_or_park
from common.errors import N_, Invalid
from contracts.base import new_id, now, schema_of
from contracts.events import EVENTS
from services.audit import domain, repository

MAX_LIMIT = 500
VIEW_WINDOW_MINUTES = 60


def take_in_batch(store, messages: list, consumer: str) -> dict:
    """Keep the entries of a batch of events ``(exchange, event type, body)`` in one write; a
    redelivered event is the same entry (keyed by its id). One that breaks its contract is parked."""
    entries = []
    for exchange, event_type, body in messages:
        source = exchange.removesuffix(".events")
        data = load_or_park(store, source, event_type, body, consumer)
        if data is None:
            continue
        payload = schema_of(EVENTS[(source, event_type)].schema).dump(data)
        if domain.kept(event_type, payload):
            entries.append(domain.entry_of(source, event_type, payload, data["occurred_at"]))
    new = repository.add(store.db, entries)
    return {"kept": new, "repeated": len(entries) - new, "skipped": len(messages) - len(entries)}


def record_access(db, access: dict) -> dict:
    """An access to other people's personal data (a list seen, a file exported), with who did
    it; kept before the data is handed out (the gateway answers 503 when it cannot be kept)."""
    kind = access.get("kind")
    actor = access.get("actor")
    if kind not in domain.ACCESS_KINDS or not isinstance(actor, dict) or not actor.get("username"):
        raise Invalid("访问记录不完整。", "ACCESS_INVALID")
    access = {**access, "access_id": new_id()}
    entry = domain.access_entry(access, now(), VIEW_WINDOW_MINUTES)
    repository.add_one(db, entry)
    return {"entry_id": entry["_id"]}


def _moment(value, field: str) -> dt.datetime | None:
    if value in (None, ""):
        return None
    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise Invalid(
            "查询参数有误。", fields={field: [N_("时间格式不对，例如 2026-12-01T00:00:00+08:00。")]}
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _filters(asked: dict) -> dict:
    kinds = asked.get("kinds") or []
    if isinstance(kinds, str):
        kinds = [k for k in kinds.split(",") if k]
    unknown = [k for k in kinds if k not in domain.KINDS]
    if unknown:
        raise Invalid("查询参数有误。", fields={"kind": [N_("没有这种操作类型。")]})
    since, until = _moment(asked.get("since"), "since"), _moment(asked.get("until"), "until")
    if since and until and until <= since:
        raise Invalid("查询参数有误。", fields={"until": [N_("结束时间应晚于开始时间。")]})
    before = None
    if asked.get("before"):
        at, _, entry_id = str(asked["before"]).partition("|")
        before = (_moment(at, "before"), entry_id)
    return {
        "palace_id": asked.get("palace_id") or None,
        "username": asked.get("username") or None,
        "kinds": kinds,
        "subject_id": asked.get("subject_id") or None,
        "since": since,
        "until": until,
        "before": before,
    }


def out(entry: dict) -> dict:
    return {
        "entry_id": entry["_id"],
        "at": entry["at"].astimezone(dt.UTC).isoformat(),
        "kind": entry["kind"],
        "kind_name": domain.KINDS.get(entry["kind"], entry["kind"]),
        "source": entry["source"],
        "actor": entry["actor"],
        "palace_ids": entry["palace_ids"],
        "subject": entry["subject"],
        "details": entry["details"],
    }


def entries(db, asked: dict, limit: int = 50) -> dict:
    """A page of the log, newest first, with the cursor of the next page (None at the end)."""
    filters = _filters(asked)
    if not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise Invalid("查询参数有误。", fields={"limit": [N_("每页条数应在 1 到 500 之间。")]})
    found = repository.entries(db, filters, limit + 1)
    page, more = found[:limit], len(found) > limit
    last = page[-1] if page else None
    cursor = f"{last['at'].astimezone(dt.UTC).isoformat()}|{last['_id']}" if more and last else None
    return {"entries": [out(e) for e in page], "next": cursor}


def kinds() -> list[dict]:
    return [{"kind": k, "name": v} for k, v in domain.KINDS.items()]
