"""Spreadsheets in and out for a palace's lists: volunteers, troupes, programs, enterprise unions.

``read_table`` turns an uploaded ``.xlsx`` or ``.csv`` into its header and rows of cell texts,
each with its row number as Excel shows it; ``write_table`` and ``template`` make the ``.xlsx``
a palace downloads. The columns are those of ``services/dispatch/import_columns.py``, so that
what is exported reads back as it was.

A file is checked before it is parsed: its size (``MAX_BYTES``), what it really is (a PNG
renamed .xlsx is no spreadsheet), and for a workbook, what its parts unpack to (a small file
that unpacks to gigabytes is refused). Formulas are read as formulas (``data_only=False``) so
that the import refuses them; an export never holds one (a cell beginning with = + - @ is
written with a leading ').
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import io
import itertools
import os
import unicodedata
import zipfile
from dataclasses import asdict, dataclass, field
from typing import Iterable, Iterator, Mapping

from common.errors import Invalid, Message
from services.dispatch.import_columns import KINDS, Column, columns, spec_of
from services.dispatch.importing import export_rows, looks_like_formula

MAX_BYTES = 10 * 1024 * 1024  # an upload larger than this is refused before it is read
MAX_UNPACKED = 100 * 1024 * 1024  # what a workbook's parts may unpack to, all together
MAX_ROWS = 10_000  # rows of data in one file
MAX_COLUMNS = 60
HEADER_SCAN = 20  # the header is looked for in this many rows from the top
MAX_BLANK_RUN = 1_000  # reading stops after this many empty rows in a row

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class SheetError(Invalid):
    """A file that cannot be read as a list: a 400 whose ``code`` is stable (NOT_A_SPREADSHEET,
    TOO_LARGE, TOO_MANY_ROWS, ENCODING, NO_HEADER, MISSING_COLUMN, FORMULA) and whose message is a
    template with its values; ``details`` (a limit, the header's row, the missing columns) are
    added to the answer."""

    def __init__(self, message, code=None, fields=None, params=None, **details):
        super().__init__(message, code, fields, params)
        self.details = details

    def to_dict(self) -> dict:
        return {**super().to_dict(), **self.details}


@dataclass
class Table:
    """A list read from a file. ``rows``: ``{"row": 12, "cells": {field: text}}``, one per row
    that holds anything, with every known column of the file (empty cells as ""); ``headers``:
    the header row as written; ``fields``: the field each column was read as (None: ignored)."""

    kind: str
    sheet: str | None
    header_row: int
    headers: list[str]
    fields: list[str | None]
    rows: list[dict]
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


# ------------------------------------------------------------------ size


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"


def check_size(size: int | None, limit: int = MAX_BYTES) -> None:
    """Refuses a file by its announced size (an upload's Content-Length), before reading it."""
    if size is not None and size > limit:
        raise SheetError(
            "文件有 {size}，超过了 {limit} 的上限；请删去多余的内容，或分成几个文件导入。",
            "TOO_LARGE",
            params={"size": _mb(size), "limit": _mb(limit)},
            limit=limit,
        )


def read_limited(stream, limit: int = MAX_BYTES, length: int | None = None, chunk: int = 64 * 1024) -> bytes:
    """At most ``limit`` bytes of an upload: refused by its announced ``length`` before any
    read, and otherwise as soon as more than ``limit`` arrive (never read in whole)."""
    check_size(length, limit)
    parts, total = [], 0
    while True:
        piece = stream.read(min(chunk, limit + 1 - total))
        if not piece:
            return b"".join(parts)
        parts.append(piece)
        total += len(piece)
        if total > limit:
            raise SheetError(
                "文件超过了 {limit} 的上限；请删去多余的内容，或分成几个文件导入。",
                "TOO_LARGE",
                params={"limit": _mb(limit)},
                limit=limit,
            )


# ------------------------------------------------------------------ what the file is


def _format_of(data: bytes, filename: str) -> str:
    ext = os.path.splitext(filename or "")[1].lower()
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise SheetError(
            "这是旧版 .xls 或加了密码的 Excel 文件；请在 Excel 中“另存为”不加密码的 .xlsx 再导入。", "NOT_A_SPREADSHEET"
        )
    if ext not in (".xlsx", ".csv", ".txt"):
        if not ext:
            raise SheetError("只能导入 Excel 表格（.xlsx）或 CSV 文件，这个文件没有扩展名。", "NOT_A_SPREADSHEET")
        raise SheetError(
            "只能导入 Excel 表格（.xlsx）或 CSV 文件，这个文件是 {ext}。", "NOT_A_SPREADSHEET", params={"ext": ext}
        )
    if data.startswith(b"PK\x03\x04"):
        return "xlsx"
    if ext == ".xlsx":
        raise SheetError(
            "这个文件不是 Excel 表格（可能是改了扩展名的其他文件）；请在 Excel 中另存为 .xlsx 再导入。",
            "NOT_A_SPREADSHEET",
        )
    if not data.strip():
        raise SheetError("文件是空的。", "NO_HEADER")
    return "csv"


def _open_zip(data: bytes) -> zipfile.ZipFile:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        raise SheetError(
            "文件已损坏，无法作为 Excel 表格打开；请在 Excel 中重新保存后再导入。", "NOT_A_SPREADSHEET"
        ) from None
    if "xl/workbook.xml" not in archive.namelist():
        raise SheetError("这个压缩文件不是 Excel 表格（.xlsx）。", "NOT_A_SPREADSHEET")
    if any(m.flag_bits & 0x1 for m in members):
        raise SheetError("文件加了密码；请去掉密码后再导入。", "NOT_A_SPREADSHEET")
    unpacked = sum(m.file_size for m in members)
    if unpacked > MAX_UNPACKED:
        raise SheetError(
            "表格解压后有 {size}，超过了 {limit} 的上限；请分成几个文件导入。",
            "TOO_LARGE",
            params={"size": _mb(unpacked), "limit": _mb(MAX_UNPACKED)},
        )
    return archive


# ------------------------------------------------------------------ cells


def cell_text(value) -> str:
    """A cell's value as the text an import reads: 13800138000.0 is "13800138000"."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="minutes") if value.time() != dt.time() else value.date().isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _xlsx_sheets(data: bytes) -> Iterator[tuple[str, Iterator[tuple[int, list[str]]]]]:
    """Each worksheet (but a 说明 sheet) with its rows, numbered as Excel numbers them; a
    formula cell is its formula's text (``=…``), which the import refuses."""
    from openpyxl import load_workbook

    _open_zip(data)
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except Exception:  # openpyxl raises many kinds on a broken part
        raise SheetError(
            "文件已损坏，无法作为 Excel 表格打开；请在 Excel 中重新保存后再导入。", "NOT_A_SPREADSHEET"
        ) from None
    try:
        for sheet in book.worksheets:
            if sheet.title != "说明" and hasattr(sheet, "iter_rows"):
                yield sheet.title, _sheet_rows(sheet)
    finally:
        book.close()


def _sheet_rows(sheet) -> Iterator[tuple[int, list[str]]]:
    number = 0
    for cells in sheet.iter_rows(max_col=MAX_COLUMNS):
        number = next((c.row for c in cells if getattr(c, "row", None)), number + 1)
        yield number, _trimmed([_xlsx_text(c) for c in cells])


def _trimmed(cells: list[str]) -> list[str]:
    while cells and not cells[-1]:
        cells.pop()
    return cells


def _xlsx_text(cell) -> str:
    value = cell.value
    if getattr(cell, "data_type", None) == "f":
        text = getattr(value, "text", None) or str(value or "")
        return text if text.startswith("=") else "=" + text
    return cell_text(value)


def decode(data: bytes) -> str:
    """The text of a CSV as Excel and WPS write it: UTF-8 (with or without its BOM), UTF-16
    (“Unicode text”), or GB18030/GBK; anything else is guessed by charset-normalizer."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8", errors="replace")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace")
    if b"\x00" in data[:8192]:
        raise SheetError("这个文件不是表格（里面是二进制内容）；请导入 .xlsx 或 .csv 文件。", "NOT_A_SPREADSHEET")
    for encoding in ("utf-8", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            pass
    from charset_normalizer import from_bytes

    best = from_bytes(data[:200_000]).best()
    if best is None:
        raise SheetError("认不出文件的文字编码；请在 Excel 中另存为“CSV UTF-8”或 .xlsx 再导入。", "ENCODING")
    return data.decode(best.encoding, errors="replace")


def _delimiter(text: str) -> str:
    line = next((x for x in text.splitlines() if x.strip()), "")
    counts = {d: line.count(d) for d in (",", "\t", ";")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _csv_rows(data: bytes) -> Iterator[tuple[int, list[str]]]:
    text = decode(data)
    if any(ch in text[:4096] for ch in "\x01\x02\x03\x04\x05\x06\x07\x08\x0e\x0f"):
        raise SheetError("这个文件不是表格（里面是二进制内容）；请导入 .xlsx 或 .csv 文件。", "NOT_A_SPREADSHEET")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    try:
        for number, cells in enumerate(reader, start=1):
            yield number, cells[:MAX_COLUMNS]
    except csv.Error:
        raise SheetError(
            "CSV 文件格式有误（引号不成对）；请在 Excel 中重新保存后再导入。", "NOT_A_SPREADSHEET"
        ) from None


# ------------------------------------------------------------------ the header


def header_key(text: str) -> str:
    """How a header is recognised: 手机号, “手机号 *”, “手机号（必填）” and ＊手机号 are one."""
    key = "".join(unicodedata.normalize("NFKC", text or "").split()).replace("*", "")
    for tail in ("(必填)", "(选填)", "(可选)", "(可不填)"):
        key = key.removesuffix(tail)
    return key.casefold()


def _lookup(kind: str) -> dict[str, Column]:
    table: dict[str, Column] = {}
    for col in columns(kind):
        for name in (col.header, *col.aliases):
            table.setdefault(header_key(name), col)
    return table


def _header_texts(cells: list[str], above: list[str] | None) -> list[str]:
    """The header row's names; an empty cell under a merged (or two-row) header takes the
    name written above it."""
    above = above or []
    width = max(len(cells), len(above)) if any(c.strip() for c in cells) else 0
    texts = [cells[j] if j < len(cells) else "" for j in range(width)]
    return [text if text.strip() or j >= len(above) else above[j] for j, text in enumerate(texts)]


def _header_fields(texts: list[str], lookup: dict[str, Column]) -> list[str | None]:
    out: list[str | None] = []
    for text in texts:
        col = lookup.get(header_key(text))
        out.append(col.field if col and col.field not in out else None)
    return out


def _find_header(head: list[tuple[int, list[str]]], kinds: Iterable[str]):
    """(score, kind, index in head, header texts, fields) of the row naming most known columns."""
    best = (0, None, None, None, None)
    for kind in kinds:
        lookup = _lookup(kind)
        for i, (_, cells) in enumerate(head):
            texts = _header_texts(cells, head[i - 1][1] if i else None)
            fields = _header_fields(texts, lookup)
            score = len([f for f in fields if f])
            if score > best[0]:
                best = (score, kind, i, texts, fields)
    return best


def _header_problems(kind: str, headers: list[str], fields: list[str | None], row: int) -> list[str]:
    for text in headers:
        if looks_like_formula(text):
            raise SheetError(
                "第 {row} 行的列名“{text}”是公式；请改成普通文字。",
                "FORMULA",
                params={"row": row, "text": text},
                row=row,
            )
    present = set(fields)
    missing = [c.header for c in columns(kind) if c.required and c.field not in present]
    if missing:
        raise SheetError(
            "表格缺少必填的列：{columns}。请按模板的列名填写（第 {row} 行是表头）。",
            "MISSING_COLUMN",
            params={"columns": "、".join(missing), "row": row},
            missing=missing,
            row=row,
        )
    return [
        Message("不认识的列「{column}」，已忽略。", column=text.strip())
        for text, f in zip(headers, fields, strict=True)
        if f is None and text.strip()
    ]


# ------------------------------------------------------------------ reading


def read_table(data: bytes, filename: str, kind: str | None = None) -> Table:
    """The list in an uploaded file: in a workbook, on the first sheet with a header.
    ``kind`` (volunteers, troupes, programs, enterprises) names what it should hold; left
    out, it is told by the header. Raises ``SheetError``."""
    check_size(len(data))
    if _format_of(data, filename) == "xlsx":
        sources = _xlsx_sheets(data)
    else:
        sources = (source for source in [(None, _csv_rows(data))])
    with contextlib.closing(sources):
        for sheet, rows in sources:
            head = _take(rows, HEADER_SCAN)
            score, found, at, headers, fields = _find_header(head, [kind] if kind else KINDS)
            if score >= (1 if kind else 2):
                header_row = head[at][0]
                warnings = _header_problems(found, headers, fields, header_row)
                data_rows = _data_rows(head[at + 1 :], rows, fields, warnings)
                return Table(found, sheet, header_row, [h.strip() for h in headers], fields, data_rows, warnings)
    names = "、".join(c.header for c in columns(kind or "volunteers") if c.required)
    raise SheetError(
        "没有找到表头：表格的第一行（或标题下的一行）应是列名，如 {names}。请下载模板对照。",
        "NO_HEADER",
        params={"names": names},
    )


def _take(rows: Iterator, n: int) -> list:
    out = []
    for item in rows:
        out.append(item)
        if len(out) == n:
            break
    return out


def _data_rows(head: list, rest: Iterator, fields: list[str | None], warnings: list[str]) -> list[dict]:
    out, blank = [], 0
    wanted = [(j, f) for j, f in enumerate(fields) if f]
    for number, cells in itertools.chain(head, rest):
        values = {f: (cells[j] if j < len(cells) else "") for j, f in wanted}
        if not any(v.strip() for v in values.values()):
            blank += 1
            if blank >= MAX_BLANK_RUN:
                warnings.append(
                    Message("第 {row} 行之前连续 {n} 行是空的，后面的内容没有读取。", row=number, n=MAX_BLANK_RUN)
                )
                break
            continue
        blank = 0
        if len(out) >= MAX_ROWS:
            raise SheetError(
                "文件有超过 {n} 行数据；请分成几个文件导入。", "TOO_MANY_ROWS", params={"n": MAX_ROWS}, limit=MAX_ROWS
            )
        out.append({"row": number, "cells": values})
    return out


# ------------------------------------------------------------------ writing


def escape(text: str) -> str:
    """A cell that Excel could take for a formula is written with a leading '."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _sheet(book, title: str, cols: tuple[Column, ...], rows: Iterable[Mapping], first: bool):
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    ws = book.active if first else book.create_sheet()
    ws.title = title
    widths = [max(c.width, _width(c.header) + 4) for c in cols]
    ws.append([c.header for c in cols])
    for j, cell in enumerate(ws[1]):
        cell.font = Font(bold=True, color="C00000" if cols[j].required else None)
        cell.fill = PatternFill("solid", fgColor="EEF2F7")
        cell.alignment = Alignment(vertical="center")
    for row in rows:
        values = []
        for j, col in enumerate(cols):
            text = str(row.get(col.field) if row.get(col.field) is not None else "")
            widths[j] = min(50, max(widths[j], _width(text) + 2))
            values.append(_number(text) if col.numeric else escape(text))
        ws.append(values)
    for j, col in enumerate(cols, start=1):
        dim = ws.column_dimensions[get_column_letter(j)]
        dim.width = widths[j - 1]
        if not col.numeric:  # phones and ids stay text, in these rows and in rows typed later
            dim.number_format = "@"
            for (cell,) in ws.iter_rows(min_row=2, min_col=j, max_col=j):
                cell.number_format = "@"
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(cols))}{max(ws.max_row, 1)}"
    return ws


def _number(text: str):
    try:
        value = float(text)
    except ValueError:
        return escape(text)
    return int(value) if value.is_integer() else value


def _save(book) -> bytes:
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def write_table(kind: str, rows: Iterable[Mapping]) -> bytes:
    """An .xlsx of ``rows`` (``{field: text}``, as ``importing.export_rows`` gives) with the
    kind's Chinese headers: bold, the header row frozen, phones and ids kept as text."""
    from openpyxl import Workbook

    book = Workbook()
    _sheet(book, spec_of(kind).sheet, columns(kind), rows, first=True)
    return _save(book)


def export(kind: str, existing: Mapping[str, list], palace: Mapping | None = None) -> bytes:
    """The palace's records of a kind as the .xlsx an import reads back unchanged."""
    return write_table(kind, export_rows(kind, existing, palace))


def template(kind: str) -> bytes:
    """An empty list to fill in: the headers, one example row, and a sheet 说明 saying what
    each column takes."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment

    spec, cols = spec_of(kind), columns(kind)
    book = Workbook()
    _sheet(book, spec.sheet, cols, [{c.field: c.example for c in cols}], first=True)
    guide = [
        {
            "header": "说明",
            "required": "",
            "note": f"每行一位{spec.label}（一条记录）；第一行是列名，请不要改动列名。",
            "example": "",
        },
        {
            "header": "",
            "required": "",
            "note": "红色列名为必填；其余可留空。示例行导入前请删去或改成真实内容。",
            "example": "",
        },
        {
            "header": "",
            "required": "",
            "note": "上传后会先列出每一行将新建、修改还是不能导入及原因，确认后才写入。",
            "example": "",
        },
    ]
    guide += [
        {"header": c.header, "required": "必填" if c.required else "选填", "note": c.note, "example": c.example}
        for c in cols
    ]
    guide_cols = (
        Column("header", "列名", width=18),
        Column("required", "是否必填", width=10),
        Column("note", "填写说明", width=70),
        Column("example", "示例", width=30),
    )
    ws = _sheet(book, "说明", guide_cols, guide, first=False)
    for (cell,) in ws.iter_rows(min_row=2, min_col=3, max_col=3):
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    return _save(book)


def download_name(kind: str, what: str = "export") -> str:
    """志愿者.xlsx, 志愿者导入模板.xlsx, …"""
    label = spec_of(kind).label
    return f"{label}导入模板.xlsx" if what == "template" else f"{label}.xlsx"
