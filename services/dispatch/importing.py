"""A palace's volunteers, troupes, programs and enterprise unions in and out of a spreadsheet:
the column table of each kind, how a cell is read, and the preview of what an import changes.

Pure functions: no file, no database, no network. Rows come in as
``{"row": 12, "cells": {field: text}}`` (``services/gateway/sheets.py`` reads them from a file);
``preview`` says row by row what would be created, updated, left unchanged or refused, and
lists the records to write. Nothing is written here.

Matching: a row names its record by its id (编号); without one, by its key: a volunteer by
phone, a troupe by name, a program by title, an enterprise union by contact phone or name.
A new record's id is derived from the palace and that key (``derived_id``), so a file applied
twice gives the same ids and the second preview says ``unchanged`` everywhere. A column left
out of the file keeps what the records hold (a volunteer's free time is never imported).
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

from marshmallow import ValidationError

from common.messages import N_, Message
from contracts.base import flatten_errors, schema_of
from services.dispatch import import_columns as cols
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

# a cell Excel would run: "=…", or "+", "-", "@" before a function call, a cell reference or a
# DDE link ("+cmd|' /C calc'!A0"). "+86 138…", "-" and "@张三" are plain text.
_FORMULA = re.compile(r"^\s*(=|[+\-@]\s*[A-Za-z_][\w.]*\s*\(|[+\-@]\s*\$?[A-Za-z]{1,3}\$?\d+|[+\-@].*[|!])")
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SEPARATORS = re.compile(r"[、,，;；\n\r]+")
_NEED = re.compile(r"^(?P<skill>.+?)\s*(?:[×xX*:：]\s*(?P<n>\d+)\s*人?|(?P<m>\d+)\s*人?)?$")
_PAREN = re.compile(r"^(?P<label>.*?)\s*[（(]\s*(?P<inner>[^()（）]+?)\s*[)）]$")
_FULLWIDTH = {**{c: c - 0xFEE0 for c in range(0xFF10, 0xFF1A)}, 0x3000: 0x20}
_FULLWIDTH.update({c: c - 0xFEE0 for c in range(0xFF21, 0xFF3B)})
_FULLWIDTH.update({c: c - 0xFEE0 for c in range(0xFF41, 0xFF5B)})


# what a record is called in a sentence, by kind
LABELS = {
    "volunteers": N_("志愿者"),
    "troupes": N_("队伍"),
    "programs": N_("节目"),
    "enterprises": N_("企业工会"),
}


class Refusal(Exception):
    """A cell that cannot be taken: ``message`` (a template with its values) follows the value,
    e.g. "不是数字。"."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


# ------------------------------------------------------------------ normalising one cell


def clean(text: Any) -> str:
    """Trimmed text with full-width digits, letters and spaces made half-width (Chinese
    punctuation such as ，：（ stays as written)."""
    return str(text if text is not None else "").translate(_FULLWIDTH).strip()


def unescape(text: str) -> str:
    """An export writes '=… for a cell that began with = + - @; reading it back drops the '."""
    return text[1:] if len(text) > 1 and text[0] == "'" and text[1] in "=+-@" else text


def looks_like_formula(text: str) -> bool:
    return bool(_FORMULA.match(unicodedata.normalize("NFKC", text or "")))


def normalize_phone(text: str) -> str | None:
    """A mainland mobile (11 digits), a landline with its area code (0573-87654321) or a
    400/800 number, written one way; None when it is none of them. +86, 86, spaces, dashes,
    dots and brackets are dropped; full-width digits count."""
    s = re.sub(r"[\s\-–—.()]", "", unicodedata.normalize("NFKC", text or ""))
    for prefix in ("+86", "0086"):
        if s.startswith(prefix):
            s = s[len(prefix) :]
    if s.startswith("86") and len(s) == 13:
        s = s[2:]
    if re.fullmatch(r"1[3-9]\d{9}", s):
        return s
    if re.fullmatch(r"0\d{9,11}", s):
        area = 3 if s[1] in "12" else 4
        if 7 <= len(s) - area <= 8:
            return f"{s[:area]}-{s[area:]}"
    if re.fullmatch(r"[48]00\d{7}", s):
        return f"{s[:3]}-{s[3:6]}-{s[6:]}"
    return None


def derived_id(palace_id: str, kind: str, key: str, attempt: int = 0) -> str:
    """The id of a record created by an import: the palace, a letter for the kind, and a hash
    of the palace, the kind and the record's key (its phone, name or title)."""
    salt = f"#{attempt}" if attempt else ""
    digest = hashlib.sha1(f"{palace_id}\n{kind}\n{key}{salt}".encode()).hexdigest()[:12]
    return f"{palace_id[:40]}-{spec_of(kind).prefix}{digest}"


# ------------------------------------------------------------------ what the palace has


class Facts:
    """What a row is checked against: the palace's districts and skills, and its records."""

    def __init__(self, palace: Mapping, existing: Mapping[str, list]):
        self.palace_id = palace["palace_id"]
        names = [d["name"] if isinstance(d, Mapping) else str(d) for d in palace.get("districts") or ()]
        self.districts = list(dict.fromkeys(names + ([palace["district"]] if palace.get("district") else [])))
        self.records = {kind: [r for r in existing.get(kind) or () if isinstance(r, Mapping)] for kind in KINDS}
        self.by_id = {k: {r.get(SPECS[k].id_field): r for r in rs} for k, rs in self.records.items()}
        self.index: dict[tuple[str, str], dict[str, list]] = {}
        for kind, spec in SPECS.items():
            for key in dict.fromkeys((*spec.keys, spec.name_field)):
                column = spec.column(key)
                slot = self.index.setdefault((kind, key), {})
                for record in self.records[kind]:
                    slot.setdefault(key_of(column, record.get(key)), []).append(record)
        self.skills = list(palace.get("skills") or self._known_skills())

    def _known_skills(self) -> list[str]:
        found = [s for v in self.records["volunteers"] for s in v.get("skills") or ()]
        found += [n.get("skill") for p in self.records["programs"] for n in p.get("needs") or ()]
        return list(dict.fromkeys([*cols.COMMON_SKILLS, *(s for s in found if s)]))

    def find(self, kind: str, key: str, value: Any) -> list[dict]:
        return self.index[(kind, key)].get(key_of(spec_of(kind).column(key), value), [])


def key_of(column: Column, value: Any) -> str:
    """How two values of a key are compared: phones by their normal form, names by their
    trimmed, half-width, case-folded text."""
    text = clean(value)
    if column.type == "phone":
        return normalize_phone(text) or text
    return re.sub(r"\s+", " ", text).casefold()


# ------------------------------------------------------------------ reading and writing cells


def _text_list(text: str) -> list[str]:
    return list(dict.fromkeys(t for t in (clean(x) for x in _SEPARATORS.split(text)) if t))


def _among(items: list[str], bad: list[str]) -> str:
    """ "中的“X”" when the cell holds more than the bad items (the value is said before it)."""
    return Message("中的“{items}”", items="、".join(bad)) if len(items) > len(bad) else ""


def _choices(values: list[str], limit: int = 8) -> str:
    shown = "、".join(values[:limit])
    return Message("{values}等", values=shown) if len(values) > limit else shown


def _kinds() -> str:
    return _choices(list(cols.KIND_LABELS.values()))


def _parse_scalar(text: str, col: Column, facts: Facts) -> Any:
    if col.type == "id":
        value = unicodedata.normalize("NFKC", text).strip()
        if not _ID.match(value):
            raise Refusal("BAD_ID", Message("不是有效的编号（只能用字母、数字、- 和 _，最多 64 位）。"))
        return value
    if col.type == "phone":
        value = normalize_phone(text)
        if value is None:
            digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", text))
            if re.fullmatch(r"[2-9]\d{8,10}", digits):
                message = N_(
                    "不是有效的{column}（应为 11 位手机号，或带区号的固定电话；若是固定电话，可能被 Excel 去掉了开头的 0，请把这一列设为文本）。"
                )
                raise Refusal("BAD_PHONE", Message(message, column=col.header))
            raise Refusal(
                "BAD_PHONE", Message("不是有效的{column}（应为 11 位手机号，或带区号的固定电话）。", column=col.header)
            )
        return value
    if col.type in ("int", "float"):
        number = unicodedata.normalize("NFKC", text).strip()
        try:
            value = float(number)
        except ValueError:
            raise Refusal("BAD_NUMBER", Message("不是数字。")) from None
        if col.type == "int":
            if not value.is_integer():
                raise Refusal("BAD_NUMBER", Message("不是整数。"))
            return int(value)
        return value
    if col.type == "district":
        value = clean(text)
        if facts.districts and value not in facts.districts:
            raise Refusal(
                "UNKNOWN_DISTRICT",
                Message("不是本文化宫的区域（可选：{choices}）。", choices=_choices(facts.districts)),
            )
        return value
    if col.type == "program_kind":
        value = cols.KIND_CODES.get(clean(text).casefold())
        if value is None:
            raise Refusal("UNKNOWN_KIND", Message("不是节目类型（可选：{choices}）。", choices=_kinds()))
        return value
    return clean(text)


def _refuse_unknown(code: str, template: str, items: list[str], unknown: list[str], choices: list[str]) -> None:
    """Refuses the cell when some of its items are not among the ``choices``."""
    if unknown:
        raise Refusal(code, Message(template, among=_among(items, unknown), choices=_choices(choices)))


def _parse_items(text: str, col: Column, facts: Facts) -> list:
    items = _text_list(text)
    if col.type == "skills":
        unknown = [s for s in items if s not in facts.skills]
        _refuse_unknown(
            "UNKNOWN_SKILL", N_("{among}不是本文化宫已有的特长（已有：{choices}）。"), items, unknown, facts.skills
        )
    elif col.type == "districts":
        unknown = [d for d in items if facts.districts and d not in facts.districts]
        _refuse_unknown(
            "UNKNOWN_DISTRICT", N_("{among}不是本文化宫的区域（可选：{choices}）。"), items, unknown, facts.districts
        )
    elif col.type == "kinds":
        unknown = [k for k in items if k.casefold() not in cols.KIND_CODES]
        kinds = list(cols.KIND_LABELS.values())
        _refuse_unknown("UNKNOWN_KIND", N_("{among}不是节目类型（可选：{choices}）。"), items, unknown, kinds)
        return list(dict.fromkeys(cols.KIND_CODES[k.casefold()] for k in items))
    elif col.type == "needs":
        return _parse_needs(items, facts)
    elif col.type in ("members", "repertoire"):
        return list(dict.fromkeys(_resolve(token, items, col, facts) for token in items))
    return items


def _parse_needs(items: list[str], facts: Facts) -> list[dict]:
    needs: dict[str, int] = {}
    for item in items:
        found = _NEED.match(unicodedata.normalize("NFKC", item))
        skill = clean(found["skill"]) if found else item
        if skill not in facts.skills:
            raise Refusal(
                "UNKNOWN_SKILL",
                Message(
                    "{among}的“{skill}”不是本文化宫已有的特长（已有：{choices}）。",
                    among=_among(items, [item]),
                    skill=skill,
                    choices=_choices(facts.skills),
                ),
            )
        needs[skill] = needs.get(skill, 0) + int(found["n"] or found["m"] or 1)
    return [{"skill": s, "count": n} for s, n in needs.items()]


def _resolve(token: str, items: list[str], col: Column, facts: Facts) -> str:
    """A troupe member (a volunteer by id, phone, "姓名（手机号）" or a name no one else has) or
    a repertoire entry (a program by id or title) as its id."""
    if col.type == "members":
        kind, keys = "volunteers", ("phone", "name")
        ambiguous = N_("{among}对应 {n} 个志愿者，请改填编号或手机号。")
        missing = N_("{among}找不到这个志愿者（请先导入志愿者，或填写志愿者编号、手机号）。")
    else:
        kind, keys = "programs", ("title",)
        ambiguous = N_("{among}对应 {n} 个节目，请改填节目编号。")
        missing = N_("{among}找不到这个节目（请先导入节目）。")
    id_field = SPECS[kind].id_field
    tries = [token]
    inner = _PAREN.match(token)
    if inner:
        tries.append(inner["inner"])
    for value in tries:
        if value in facts.by_id[kind]:
            return value
        for key in keys:
            hits = facts.find(kind, key, value)
            if len(hits) == 1:
                return hits[0][id_field]
            if len(hits) > 1:
                raise Refusal("AMBIGUOUS", Message(ambiguous, among=_among(items, [token]), n=len(hits)))
    raise Refusal("NOT_FOUND", Message(missing, among=_among(items, [token])))


def parse_cell(text: str, col: Column, facts: Facts) -> Any:
    """The value a cell stands for; an empty cell is the column's empty value."""
    if not clean(text):
        if col.required:
            raise Refusal("REQUIRED", Message("是必填项，不能为空。"))
        return col.empty()
    if col.type in cols.LIST_TYPES:
        return _parse_items(text, col, facts)
    return _parse_scalar(text, col, facts)


def format_cell(value: Any, col: Column, facts: Facts | None = None) -> str:
    """A value as its cell: the form ``parse_cell`` reads back to the same value."""
    if value is None or value == "" or value == []:
        return ""
    if col.type == "needs":
        return "、".join(f"{n.get('skill')}×{n.get('count')}" for n in value)
    if col.type == "kinds":
        return "、".join(cols.KIND_LABELS.get(k, k) for k in value)
    if col.type == "program_kind":
        return cols.KIND_LABELS.get(value, value)
    if col.type in ("members", "repertoire"):
        return "、".join(_reference(x, col, facts) for x in value)
    if col.type in cols.LIST_TYPES:
        return "、".join(str(x) for x in value)
    if col.type in ("int", "float") and isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _reference(record_id: str, col: Column, facts: Facts | None) -> str:
    kind = "volunteers" if col.type == "members" else "programs"
    record = facts.by_id[kind].get(record_id) if facts else None
    if record is None:
        return record_id
    if kind == "volunteers":
        return f"{record.get('name')}（{record.get('phone')}）"
    title = record.get("title") or record_id
    return title if len(facts.find(kind, "title", title)) == 1 else record_id


def _same(col: Column, old: Any, new: Any) -> bool:
    if old in (None, "", []) and new in (None, "", []):
        return True
    if col.type == "phone" and isinstance(old, str):
        return normalize_phone(old) == new or old == new
    if col.type in ("int", "float") and isinstance(old, int | float) and isinstance(new, int | float):
        return float(old) == float(new)
    if col.type in ("text", "district") and isinstance(old, str):
        return clean(old) == new
    return old == new


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
        candidate = derived_id(facts.palace_id, spec.kind, key, attempt)
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
        if name != spec.id_field and not _same(col, old.get(name), new.get(name)):
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
        if name in old and _same(spec.column(name), old[name], values[name]):
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


def preview(kind: str, rows: list[Mapping], palace: Mapping, existing: Mapping[str, list], *, taken_ids=()) -> Preview:
    """What importing ``rows`` would do to the palace's records.

    ``palace``: ``{"palace_id", "district", "districts": [names or {"name"}], "skills": [...]}``
    (``skills`` left out: the common ones and those its volunteers and programs already have);
    ``existing``: the palace's records by kind, ``{"volunteers": [...], "troupes": [...],
    "programs": [...], "enterprises": [...]}`` as the services list them; ``taken_ids``: ids
    used by other palaces, which a row may not claim. The columns of the file are those its
    rows carry."""
    spec = spec_of(kind)
    facts = Facts(palace, existing)
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
