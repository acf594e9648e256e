"""How one cell of an import is read and written back: cleaning and normalising its text (full-width
digits, phone numbers, formulas), what the palace has (its districts, skills and records, to
resolve names and ids against), and parsing a cell into a field's value or formatting a value
into a cell. Pure functions; ``importing`` builds the preview on them."""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from typing import Any, Mapping

from common.messages import N_, Message
from services.dispatch import import_columns as cols
from services.dispatch.import_columns import KINDS, SPECS, Column, spec_of

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


def derived_id(palace_id: str, kind: str, key: str, attempt: int = 0, salt: str = "") -> str:
    """The id of a record created by an import: the palace, a letter for the kind, and a keyed
    hash of the palace, the kind and the record's key (its phone, name or title). The key
    (``salt``) is the preview's own, drawn at random and gone once the preview is confirmed or
    expires: the same preview confirmed gives the same ids, and an id never tells the phone it
    was made from (the hash of a phone number alone is undone by trying them all)."""
    suffix = f"#{attempt}" if attempt else ""
    message = f"{palace_id}\n{kind}\n{key}{suffix}".encode()
    digest = (hmac.new(salt.encode(), message, hashlib.sha256) if salt else hashlib.sha1(message)).hexdigest()[:12]
    return f"{palace_id[:40]}-{spec_of(kind).prefix}{digest}"


# ------------------------------------------------------------------ what the palace has


class Facts:
    """What a row is checked against: the palace's districts and skills, and its records."""

    def __init__(self, palace: Mapping, existing: Mapping[str, list], salt: str = ""):
        self.palace_id = palace["palace_id"]
        self.salt = salt
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


def same_value(col: Column, old: Any, new: Any) -> bool:
    if old in (None, "", []) and new in (None, "", []):
        return True
    if col.type == "phone" and isinstance(old, str):
        return normalize_phone(old) == new or old == new
    if col.type in ("int", "float") and isinstance(old, int | float) and isinstance(new, int | float):
        return float(old) == float(new)
    if col.type in ("text", "district") and isinstance(old, str):
        return clean(old) == new
    return old == new
