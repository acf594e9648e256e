"""A palace's volunteers, troupes, programs and enterprise unions in and out of a spreadsheet:
the preview of what an import changes and the rows an export writes (the column tables are in
``import_columns``, how one cell is read and written in ``import_cells``).

Pure functions: no file, no database, no network. Rows come in as
``{"row": 12, "cells": {field: text}}`` (``services/gateway/sheets.py`` reads them from a file);
``preview`` says row by row what would be created, updated, left unchanged or refused, and
lists the records to write. Nothing is written here.

Matching: a row names its record by its id (编号); without one, by its key: a volunteer by
phone, a troupe by name, a program by title, an enterprise union by contact phone or name.
A new record's id is derived from the palace and that key with the preview's own secret
(``derived_id``), so confirming a preview writes the ids it showed, and a file applied twice
finds its records by their keys the second time: that preview says ``unchanged`` everywhere. A column left
out of the file keeps what the records hold (a volunteer's free time is never imported).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

from marshmallow import ValidationError

from common.messages import Message
from contracts.base import flatten_errors, schema_of
from services.dispatch import import_columns as cols
from services.dispatch.import_cells import (
    LABELS,
    Facts,
    Refusal,
    clean,
    derived_id,
    format_cell,
    key_of,
    looks_like_formula,
    normalize_phone,
    parse_cell,
    same_value,
    unescape,
)
from services.dispatch.import_columns import KINDS, SPECS, Column, Spec, columns, spec_of

__all__ = [
    "KINDS",
    "SPECS",
    "Column",
    "Preview",
    "RowResult",
    "Spec",
    "columns",
    "derived_id",
    "export_rows",
    "looks_like_formula",
    "normalize_phone",
    "preview",
    "spec_of",
    "troupe_links",
]


# ------------------------------------------------------------------ the preview


@dataclass
class RowResult:
    """One row of the file. ``action``: create, update, unchanged or refused; ``changes``:
    ``{"field", "column", "old", "new"}`` as cells; ``reasons``: ``{"field", "column", "code",
    "value", "message"}``, each message a whole Chinese sentence; ``notes``: what was tidied."""

    row: int
    action: str
    record_id: str | None = None
    label: str | None = None
    changes: list[dict] = field(default_factory=list)
    reasons: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Preview:
    """What an import would do. ``writes``: the whole records to upsert, in file order (the
    rows created or updated); ``digest`` names them, so that a confirm can check that what it
    writes is what the dispatcher saw."""

    kind: str
    rows: list[RowResult]
    writes: list[dict]
    counts: dict[str, int]
    digest: str
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _say(row: int, col: Column, value: str, message: str) -> str:
    shown = value if len(value) <= 30 else value[:30] + "…"
    if shown:
        return Message(
            "第 {row} 行「{column}」“{value}”{problem}", row=row, column=col.header, value=shown, problem=message
        )
    return Message("第 {row} 行「{column}」{problem}", row=row, column=col.header, problem=message)


def _reason(row: int, col: Column, value: str, code: str, message: str) -> dict:
    return {
        "field": col.field,
        "column": col.header,
        "code": code,
        "value": value,
        "message": _say(row, col, value, message),
    }


def _read_cells(spec: Spec, facts: Facts, row: int, cells: Mapping, present: list[str], result: RowResult) -> dict:
    values: dict[str, Any] = {}
    for name in present:
        col = spec.column(name)
        raw = unescape(str(cells.get(name) if cells.get(name) is not None else ""))
        if looks_like_formula(raw):
            result.reasons.append(_reason(row, col, raw, "FORMULA", Message("是公式，不能导入；请改成普通文字。")))
            continue
        try:
            values[name] = parse_cell(raw, col, facts)
        except Refusal as refusal:
            result.reasons.append(_reason(row, col, clean(raw), refusal.code, refusal.message))
            continue
        shown = format_cell(values[name], col) if col.type in cols.NOTED_TYPES else None
        if shown is not None and shown != raw.strip():
            note = Message(
                "第 {row} 行「{column}」“{value}”已规范为“{shown}”。",
                row=row,
                column=col.header,
                value=raw.strip(),
                shown=shown,
            )
            result.notes.append(note)
    return values


def _match(spec: Spec, facts: Facts, row: int, values: dict) -> tuple[dict | None, dict | None]:
    """The record a row stands for, or the reason it cannot be told apart."""
    given = values.get(spec.id_field)
    by_key: dict[str, tuple[str, dict]] = {}
    for key in spec.keys:
        if values.get(key) in (None, ""):
            continue
        hits = facts.find(spec.kind, key, values[key])
        if len(hits) == 1:
            by_key.setdefault(hits[0][spec.id_field], (key, hits[0]))
        elif len(hits) > 1 and not given and len(spec.keys) == 1:
            col = spec.column(key)
            message = Message(
                "有 {n} 个{label}都是这个{column}，请填写「编号」来区分。",
                n=len(hits),
                label=Message(LABELS[spec.kind]),
                column=col.header,
            )
            return None, _reason(row, col, format_cell(values[key], col), "AMBIGUOUS", message)
    target = facts.by_id[spec.kind].get(given) if given else None
    others = {rid: hit for rid, hit in by_key.items() if target is None or rid != given}
    if not others:
        return target, None
    rid, (key, other) = next(iter(others.items()))
    col = spec.column(key)
    whose = {"label": Message(LABELS[spec.kind]), "name": other.get(spec.name_field), "id": rid}
    if given:
        message = Message(
            "已属于{label}“{name}”（编号 {id}），与本行的编号 {given} 不是同一个；请核对编号。", given=given, **whose
        )
    elif len(others) > 1:
        message = Message(
            "已属于{label}“{name}”（编号 {id}），而本行其他信息对应另一个{label}；请填写「编号」。", **whose
        )
    else:
        return other, None
    return None, _reason(row, col, format_cell(values[key], col), "CONFLICT", message)


def _new_id(spec: Spec, facts: Facts, values: dict, taken: set) -> str:
    key = key_of(spec.column(spec.derive_from), values.get(spec.derive_from))
    for attempt in range(100):
        candidate = derived_id(facts.palace_id, spec.kind, key, attempt, facts.salt)
        if candidate not in facts.by_id[spec.kind] and candidate not in taken:
            return candidate
    raise RuntimeError("no free id")  # 100 collisions of a 48-bit hash: not in this universe


def _duplicate(spec: Spec, row: int, record_id: str, values: dict, seen: dict) -> dict | None:
    """The later of two rows for the same record (same id, phone, name…) is refused."""
    marks = [(k, key_of(spec.column(k), values[k]), spec.column(k)) for k in spec.unique if values.get(k)]
    marks += [("id", record_id, spec.column(spec.id_field))] if record_id else []
    for mark, value, col in marks:
        earlier = seen.get((mark, value))
        if earlier is not None:
            shown = record_id if mark == "id" else format_cell(values[col.field], col)
            return _reason(
                row, col, shown, "DUPLICATE", Message("与第 {earlier} 行重复，本行不导入。", earlier=earlier)
            )
    for mark, value, _ in marks:
        seen[(mark, value)] = row
    return None


def _validate(spec: Spec, row: int, record: dict) -> list[dict]:
    """The contract's own rules (lengths, ranges, counts), said about the row's columns."""
    schema = schema_of(spec.schema)
    try:
        schema.load({k: v for k, v in record.items() if k in schema.fields})
    except ValidationError as error:
        reasons = []
        for path, messages in flatten_errors(error.messages).items():
            col = spec.column(path.split(".")[0]) or Column(path, path)
            value = format_cell(record.get(col.field), col)
            reasons += [_reason(row, col, value, "INVALID", m) for m in messages]
        return reasons
    return []


def _diff(spec: Spec, facts: Facts, old: dict, new: dict, present: list[str]) -> list[dict]:
    changes = []
    for name in present:
        col = spec.column(name)
        if name != spec.id_field and not same_value(col, old.get(name), new.get(name)):
            changes.append(
                {
                    "field": name,
                    "column": col.header,
                    "old": format_cell(old.get(name), col, facts),
                    "new": format_cell(new.get(name), col, facts),
                }
            )
    return changes


def _record_id(spec: Spec, facts: Facts, row: int, values: dict, target: dict | None, taken: set, result) -> str | None:
    given = values.get(spec.id_field)
    if target is not None:
        return target[spec.id_field]
    if given and given in taken:
        col = spec.column(spec.id_field)
        result.reasons.append(_reason(row, col, given, "ID_TAKEN", Message("已被其他文化宫使用，请换一个编号或留空。")))
        return None
    if given or values.get(spec.derive_from) in (None, ""):
        return given
    return _new_id(spec, facts, values, taken)


def _record(spec: Spec, facts: Facts, target: dict | None, values: dict, present: list[str], record_id: str) -> dict:
    """The whole record after the row: what the file leaves alone (a column it does not have,
    a value it writes another way, e.g. a phone with dashes) keeps its stored value."""
    old = dict(target or {})
    for name in present:
        if name in old and same_value(spec.column(name), old[name], values[name]):
            values[name] = old[name]
    record = {**old, **values, spec.id_field: record_id, "palace_id": facts.palace_id}
    wanted = schema_of(spec.schema).fields
    return {k: v for k, v in record.items() if k in wanted}


def _preview_row(spec: Spec, facts: Facts, raw: Mapping, present: list[str], seen: dict, taken: set):
    row = int(raw.get("row") or 0)
    result = RowResult(row=row, action="refused")
    values = _read_cells(spec, facts, row, raw.get("cells") or {}, present, result)
    target, problem = _match(spec, facts, row, values)
    if problem:
        result.reasons.append(problem)
    record_id = None if problem else _record_id(spec, facts, row, values, target, taken, result)
    duplicate = _duplicate(spec, row, record_id, values, seen)
    if duplicate:
        result.reasons.append(duplicate)
    result.record_id = record_id
    result.label = values.get(spec.name_field) or (target or {}).get(spec.name_field)
    if result.reasons:
        return result, None
    record = _record(spec, facts, target, values, present, record_id)
    result.changes = _diff(spec, facts, target, record, present) if target else []
    if target and not result.changes:  # the stored record as it is: nothing to check or write
        result.action = "unchanged"
        return result, None
    result.reasons = _validate(spec, row, record)
    if result.reasons:
        result.changes = []
        return result, None
    result.action = "update" if target else "create"
    write = {k: v for k, v in record.items() if k not in spec.keep_out}
    return result, write


def preview(
    kind: str, rows: list[Mapping], palace: Mapping, existing: Mapping[str, list], *, taken_ids=(), salt: str = ""
) -> Preview:
    """What importing ``rows`` would do to the palace's records.

    ``palace``: ``{"palace_id", "district", "districts": [names or {"name"}], "skills": [...]}``
    (``skills`` left out: the common ones and those its volunteers and programs already have);
    ``existing``: the palace's records by kind, ``{"volunteers": [...], "troupes": [...],
    "programs": [...], "enterprises": [...]}`` as the services list them; ``taken_ids``: ids
    used by other palaces, which a row may not claim; ``salt``: the preview's key of new records'
    ids (``derived_id``). The columns of the file are those its rows carry."""
    spec = spec_of(kind)
    facts = Facts(palace, existing, salt)
    present = list(dict.fromkeys(f for r in rows for f in (r.get("cells") or {}) if spec.column(f)))
    missing = [c.header for c in spec.columns if rows and c.field not in present and c.field != spec.id_field]
    warnings = [Message("文件中没有「{header}」一列，已有记录的{header}保持不变。", header=h) for h in missing]
    taken, seen, results, writes = set(taken_ids), {}, [], []
    for raw in rows:
        result, write = _preview_row(spec, facts, raw, present, seen, taken)
        results.append(result)
        if write is not None:
            writes.append(write)
    counts = {a: sum(r.action == a for r in results) for a in ("create", "update", "unchanged", "refused")}
    digest = hashlib.sha256(json.dumps(writes, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()
    return Preview(kind=kind, rows=results, writes=writes, counts=counts, digest=digest, warnings=warnings)


# ------------------------------------------------------------------ export and after-effects


def export_rows(kind: str, existing: Mapping[str, list], palace: Mapping | None = None) -> list[dict[str, str]]:
    """The palace's records of a kind as rows of cells, in the columns an import reads:
    exported, edited and imported again, an untouched row is ``unchanged``."""
    spec = spec_of(kind)
    facts = Facts(palace or {"palace_id": ""}, existing)
    return [{c.field: format_cell(r.get(c.field), c, facts) for c in spec.columns} for r in facts.records[kind]]


def troupe_links(troupes: list[dict], volunteers: list[dict]) -> list[dict]:
    """The volunteers whose ``troupe_ids`` no longer say which of ``troupes`` they are in,
    with the list corrected: written after a troupe import, the volunteers' records agree
    with the troupes' members (which the planner reads)."""
    members = {t["troupe_id"]: set(t.get("members") or ()) for t in troupes}
    out = []
    for volunteer in volunteers:
        have = list(volunteer.get("troupe_ids") or [])
        want = [t for t in have if t not in members or volunteer["volunteer_id"] in members[t]]
        want += [t for t, ids in members.items() if volunteer["volunteer_id"] in ids and t not in want]
        if want != have:
            out.append({**volunteer, "troupe_ids": want})
    return out
