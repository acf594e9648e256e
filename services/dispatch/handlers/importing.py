"""A palace's lists imported from a spreadsheet and exported to one.

The gateway reads the file into rows of cells; here those rows are compared with the palace's
records (``services/dispatch/importing.py`` says row by row what would be created, updated, left
alone or refused, and why), the preview is kept in ``imports`` for ``IMPORT_MINUTES``, and a
confirm writes it in one statement, once the preview made again on the records as they are then
still gives the same writes (its ``digest``); otherwise the dispatcher is asked to look again.

Enterprise unions are the orders service's records: for them the gateway passes the palace's
unions in (``current``) and writes what a confirm answers under ``writes`` through orders.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets

from pymongo.errors import DuplicateKeyError

from common.errors import Conflict, Invalid, NotFound, load
from common.messages import N_, Message
from contracts.base import now
from services.dispatch import importing, repository

log = logging.getLogger(__name__)

OWN = ("volunteers", "troupes", "programs")  # the kinds dispatch keeps


def _kind(kind: str) -> str:
    if kind not in importing.KINDS:
        raise Invalid(
            "不能导入这类名单。",
            "UNKNOWN_KIND",
            fields={"kind": [N_("应为志愿者、队伍、节目或企业工会之一。")]},
        )
    return kind


def _existing(db, kind: str, palace_id: str, current: list[dict] | None) -> dict[str, list]:
    """The palace's records as the service lists them (times written out, as a file has them)."""
    existing = {
        k: importing.spec_of(k).schema(many=True).dump(repository.palace_records(db, k, palace_id)) for k in OWN
    }
    existing["enterprises"] = list(current or []) if kind == "enterprises" else []
    return existing


def _palace(db, palace_id: str) -> dict:
    palace = repository.palace(repository.Reads(db), palace_id)
    return {"palace_id": palace_id, "district": palace.get("district"), "districts": palace.get("districts") or []}


def _taken(db, kind: str, palace_id: str, rows: list[dict], taken: list[str] | None) -> list[str]:
    """Ids written in the file that other palaces' records hold (a file cannot claim them)."""
    if kind not in OWN:
        return list(taken or [])
    id_field = importing.spec_of(kind).id_field
    given = [importing.clean((r.get("cells") or {}).get(id_field)) for r in rows]
    return sorted(repository.ids_elsewhere(db, kind, palace_id, [g for g in given if g]))


def _run(db, kind: str, palace_id: str, rows: list[dict], current, taken, salt: str) -> importing.Preview:
    return importing.preview(
        kind,
        rows,
        _palace(db, palace_id),
        _existing(db, kind, palace_id, current),
        taken_ids=_taken(db, kind, palace_id, rows, taken),
        salt=salt,
    )


def _said(value):
    """A message as it crosses RPC: its template and values, said in the reader's language by the gateway."""
    return value.wire() if isinstance(value, Message) else value


def _shown(preview: importing.Preview) -> dict:
    out = preview.to_dict()
    out.pop("writes")
    out["warnings"] = [_said(w) for w in out["warnings"]]
    for row in out["rows"]:
        row["notes"] = [_said(n) for n in row["notes"]]
        for reason in row["reasons"]:
            reason["message"] = _said(reason["message"])
    return out


def preview(kind: str, palace_id: str, rows: list[dict], db, current=None, taken=None) -> dict:
    """What importing ``rows`` would do, kept under a new ``preview_id``."""
    salt = secrets.token_hex(16)
    preview = _run(db, _kind(kind), palace_id, rows, current, taken, salt)
    at = now()
    record = {
        "preview_id": secrets.token_urlsafe(18),
        "salt": salt,
        "kind": kind,
        "palace_id": palace_id,
        "rows": rows,
        "digest": preview.digest,
        "counts": preview.counts,
        "taken": list(taken or []),
        "created_at": at,
    }
    repository.save_import(db, record)
    expires = at + dt.timedelta(minutes=repository.IMPORT_MINUTES)
    return {
        **_shown(preview),
        "preview_id": record["preview_id"],
        "palace_id": palace_id,
        "expires_at": expires.isoformat(),
    }


def confirm(preview_id: str, by: dict, store, palace_id: str, kind: str, current=None, taken=None) -> dict:
    """Writes a preview: what it showed, if the records still give the same writes; then says so
    (``records_imported``, the audit log's entry of who imported what)."""
    db = store.db
    kept = repository.find_import(db, preview_id)
    at = now()
    too_old = kept is not None and _aware(kept["created_at"]) < at - dt.timedelta(minutes=repository.IMPORT_MINUTES)
    if kept is None or too_old or kept["palace_id"] != palace_id or kept["kind"] != kind:
        raise NotFound("找不到这次预览（可能已确认或已过期），请重新上传文件。", "PREVIEW_NOT_FOUND")
    taken = kept.get("taken") if taken is None else taken
    preview = _run(db, kind, palace_id, kept["rows"], current, taken, kept.get("salt") or "")
    if preview.digest != kept["digest"]:
        raise Conflict("数据已变化，请重新预览。", "PREVIEW_STALE")
    created = {r.record_id for r in preview.rows if r.action == "create"}
    stored = _stored(kind, preview.writes) if kind in OWN else []
    linked = []
    if kind == "troupes" and preview.writes:  # the members' side: volunteers say which troupes they are in
        existing = _existing(db, kind, palace_id, None)
        troupes = {t["troupe_id"]: t for t in existing["troupes"]}
        for w in preview.writes:
            troupes[w["troupe_id"]] = {**troupes.get(w["troupe_id"], {}), **w}
        linked = importing.troupe_links(list(troupes.values()), existing["volunteers"])
    counts = preview.counts
    out = {
        "preview_id": preview_id,
        "kind": kind,
        "palace_id": palace_id,
        "created": counts["create"],
        "updated": counts["update"],
        "unchanged": counts["unchanged"],
        "refused": counts["refused"],
        "volunteers_linked": len(linked),
    }

    def write(uow):
        """The preview taken, its records written and the import said, all at once or not at all."""
        if not repository.drop_import(uow.db, preview_id, uow.session):
            raise NotFound("找不到这次预览（可能已确认或已过期），请重新上传文件。", "PREVIEW_NOT_FOUND")
        if stored:
            repository.upsert_records(uow.db, kind, stored, created, uow.session)
        if linked:
            repository.upsert_records(uow.db, "volunteers", _stored("volunteers", linked), session=uow.session)
        uow.emit(
            "records_imported",
            palace_id=palace_id,
            import_kind=kind,
            preview_id=preview_id,
            by=(by or {}).get("username") or "",
            **{k: out[k] for k in ("created", "updated", "unchanged", "refused", "volunteers_linked")},
        )

    try:
        store.transaction(write)
    except DuplicateKeyError:  # a record of the file was created meanwhile: nothing was written
        raise Conflict("数据已变化，请重新预览。", "PREVIEW_STALE") from None
    log.info("import %s confirmed by %s: %s %s, %s", preview_id, (by or {}).get("username"), palace_id, kind, counts)
    if kind not in OWN:
        out["writes"] = preview.writes
    if kind == "volunteers":  # the new volunteers, to be invited to claim their accounts
        out["invite"] = [
            {"volunteer_id": w["volunteer_id"], "name": w.get("name"), "phone": w["phone"]}
            for w in preview.writes
            if w["volunteer_id"] in created and w.get("phone")
        ]
    return out


def _stored(kind: str, records: list[dict]) -> list[dict]:
    """Records as the database keeps them (times as times), each with only the fields it names:
    what it leaves out (a troupe's sharing) stays as stored."""
    loaded = load(importing.spec_of(kind).schema, records, many=True)
    return [{k: v for k, v in done.items() if k in given} for done, given in zip(loaded, records, strict=True)]


def _aware(at: dt.datetime) -> dt.datetime:
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


def export(kind: str, palace_id: str, db, current=None) -> list[dict]:
    """The palace's records of a kind as rows of cells, in the columns an import reads."""
    return importing.export_rows(_kind(kind), _existing(db, kind, palace_id, current), _palace(db, palace_id))
