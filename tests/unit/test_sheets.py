"""Reading and writing the palace's lists as files: real .xlsx and .csv files made here."""

import codecs
import csv
import io
import struct
import zipfile
import zlib

import pytest
from openpyxl import Workbook, load_workbook

from services.dispatch import importing
from services.gateway import sheets
from services.gateway.sheets import SheetError

HEADER = ["编号", "姓名", "手机号", "特长", "区域"]


def xlsx(rows, title=None, merge=None) -> bytes:
    book = Workbook()
    ws = book.active
    ws.title = "名单"
    if title:
        ws.append([title])
    for row in rows:
        ws.append(row)
    for area in merge or ():
        ws.merge_cells(area)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def csv_bytes(rows, encoding="utf-8", delimiter=",") -> bytes:
    out = io.StringIO(newline="")
    csv.writer(out, delimiter=delimiter).writerows(rows)
    return out.getvalue().encode(encoding)


def png() -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )


def code_of(call) -> str:
    with pytest.raises(SheetError) as caught:
        call()
    assert caught.value.message and all(ord(ch) < 0x2E80 for ch in caught.value.code)
    return caught.value.code


# ------------------------------------------------------------------ reading .xlsx


def test_a_title_row_merged_over_the_header_is_skipped_and_rows_keep_their_excel_numbers():
    data = xlsx(
        [HEADER, ["", "王芳", "13800138000", "声乐", "海宁"], [], ["", "李伟", 13900001111, "舞蹈", "许村镇"]],
        title="海宁市工人文化宫 志愿者名单",
        merge=["A1:E1"],
    )
    table = sheets.read_table(data, "名单.xlsx", "volunteers")
    assert (table.kind, table.sheet, table.header_row) == ("volunteers", "名单", 2)
    assert [r["row"] for r in table.rows] == [3, 5]
    assert table.rows[1]["cells"]["phone"] == "13900001111"  # a number in Excel, text here
    assert table.rows[0]["cells"] == {
        "volunteer_id": "",
        "name": "王芳",
        "phone": "13800138000",
        "skills": "声乐",
        "district": "海宁",
    }


def test_a_two_row_header_takes_the_names_above_empty_cells():
    rows = [
        ["姓名", "联系方式", "", "特长"],
        ["", "手机号", "区域", ""],
        ["王芳", "13800138000", "海宁", "声乐"],
    ]
    data = xlsx(rows, merge=["A1:A2", "B1:C1", "D1:D2"])
    table = sheets.read_table(data, "x.xlsx")
    assert table.kind == "volunteers" and table.header_row == 2
    assert table.fields == ["name", "phone", "district", "skills"]
    assert table.rows == [
        {"row": 3, "cells": {"name": "王芳", "phone": "13800138000", "district": "海宁", "skills": "声乐"}}
    ]


def test_headers_written_with_a_star_or_a_required_mark_or_an_alias_are_known():
    data = xlsx([["姓名 *", "手机号码（必填）", "所在区域", "备注"], ["王芳", "13800138000", "海宁", "老队员"]])
    table = sheets.read_table(data, "x.xlsx", "volunteers")
    assert table.fields == ["name", "phone", "district", None]
    assert table.warnings == ["不认识的列「备注」，已忽略。"]


def test_a_formula_cell_is_read_as_its_formula_and_the_import_refuses_it():
    data = xlsx([HEADER, ["", '=HYPERLINK("http://x","点我")', "13800138000", "声乐", "海宁"]])
    table = sheets.read_table(data, "x.xlsx", "volunteers")
    assert table.rows[0]["cells"]["name"] == '=HYPERLINK("http://x","点我")'
    palace = {"palace_id": "haining", "districts": ["海宁"]}
    result = importing.preview("volunteers", table.rows, palace, {})
    assert result.writes == [] and result.rows[0].action == "refused"
    assert result.rows[0].reasons[0]["code"] == "FORMULA"
    assert result.rows[0].reasons[0]["message"].startswith("第 2 行「姓名」“=HYPERLINK(")


def test_a_formula_in_the_header_is_refused():
    data = xlsx([["姓名", "手机号", '=HYPERLINK("http://x","区域")'], ["王芳", "13800138000", "海宁"]])
    assert code_of(lambda: sheets.read_table(data, "x.xlsx", "volunteers")) == "FORMULA"


def test_missing_required_columns_are_named():
    data = xlsx([["姓名", "特长"], ["王芳", "声乐"]])
    with pytest.raises(SheetError) as caught:
        sheets.read_table(data, "x.xlsx", "volunteers")
    assert caught.value.code == "MISSING_COLUMN"
    assert "手机号、区域" in caught.value.message


def test_a_sheet_without_a_header_says_so():
    data = xlsx([["a", "b"], [1, 2]])
    assert code_of(lambda: sheets.read_table(data, "x.xlsx", "volunteers")) == "NO_HEADER"
    assert code_of(lambda: sheets.read_table(data, "x.xlsx")) == "NO_HEADER"


def test_the_kind_is_told_by_the_header_when_not_given():
    data = xlsx([["节目名称", "类型", "时长（分钟）", "人员需求"], ["八段锦", "培训课程", 90, "八段锦×1"]])
    table = sheets.read_table(data, "x.xlsx")
    assert table.kind == "programs" and table.rows[0]["cells"]["duration_minutes"] == "90"


# ------------------------------------------------------------------ reading .csv


@pytest.mark.parametrize(
    ("encoding", "delimiter"),
    [("gbk", ","), ("gb18030", "\t"), ("utf-8-sig", ","), ("utf-8", ";"), ("utf-16", "\t")],
)
def test_csv_in_the_encodings_and_separators_chinese_excel_writes(encoding, delimiter):
    rows = [
        HEADER,
        ["", "王芳", "13800138000", "声乐、主持", "海昌街道"],
        ["", "李伟", "139 0000 1111", "书法", "许村镇"],
    ]
    data = csv_bytes(rows, encoding, delimiter)
    if encoding == "utf-8-sig":
        assert data.startswith(codecs.BOM_UTF8)
    table = sheets.read_table(data, "名单.csv", "volunteers")
    assert table.header_row == 1 and [r["row"] for r in table.rows] == [2, 3]
    assert table.rows[0]["cells"]["skills"] == "声乐、主持"
    assert table.rows[1]["cells"]["district"] == "许村镇"


def test_a_gbk_csv_with_a_title_line_above_the_header():
    rows = [
        ["海宁市工人文化宫 企业工会名单"],
        ["工会名称", "区域", "联系人", "联系电话"],
        ["海宁皮革城工会", "海宁", "张敏", "0573-87654321"],
    ]
    table = sheets.read_table(csv_bytes(rows, "gbk"), "企业.csv")
    assert table.kind == "enterprises" and table.header_row == 2
    assert table.rows == [
        {
            "row": 3,
            "cells": {
                "name": "海宁皮革城工会",
                "district": "海宁",
                "contact_name": "张敏",
                "contact_phone": "0573-87654321",
            },
        }
    ]


def test_a_formula_in_a_csv_stays_text_and_is_refused_by_the_import():
    rows = [HEADER, ["", "=1+2", "13800138000", "声乐", "海宁"], ["", "张三", "+86 138 0013 8001", "@SUM(A1)", "海宁"]]
    table = sheets.read_table(csv_bytes(rows), "x.csv", "volunteers")
    result = importing.preview("volunteers", table.rows, {"palace_id": "p", "districts": ["海宁"]}, {})
    assert [r.reasons[0]["code"] for r in result.rows] == ["FORMULA", "FORMULA"]
    assert result.rows[1].reasons[0]["column"] == "特长"  # the phone with +86 is no formula


# ------------------------------------------------------------------ files that are not lists


def test_a_png_renamed_xlsx_is_not_a_spreadsheet():
    with pytest.raises(SheetError) as caught:
        sheets.read_table(png(), "名单.xlsx")
    assert caught.value.code == "NOT_A_SPREADSHEET" and "扩展名" in caught.value.message
    assert code_of(lambda: sheets.read_table(png(), "名单.csv")) == "NOT_A_SPREADSHEET"


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "old.xls"),
        (b"%PDF-1.4 ...", "a.pdf"),
        (b"PK\x03\x04broken", "a.xlsx"),
    ],
)
def test_other_files_get_a_clear_answer(data, name):
    assert code_of(lambda: sheets.read_table(data, name)) == "NOT_A_SPREADSHEET"


def test_a_zip_that_is_no_workbook_is_refused():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("readme.txt", "hello")
    assert code_of(lambda: sheets.read_table(out.getvalue(), "a.xlsx")) == "NOT_A_SPREADSHEET"


def test_a_file_over_the_limit_is_refused_before_it_is_parsed(monkeypatch):
    def never(*args):
        raise AssertionError("parsed")

    monkeypatch.setattr(sheets, "_format_of", never)
    data = b"x" * (sheets.MAX_BYTES + 1)
    with pytest.raises(SheetError) as caught:
        sheets.read_table(data, "a.xlsx")
    assert caught.value.code == "TOO_LARGE" and "10.0 MB" in caught.value.message


class Endless:
    """An upload of 50 MB that counts what is read of it."""

    def __init__(self, size):
        self.left, self.read_bytes = size, 0

    def read(self, n):
        n = min(n, self.left)
        self.left -= n
        self.read_bytes += n
        return b"\x00" * n


def test_a_50_mb_upload_is_answered_without_being_read_whole():
    upload = Endless(50 * 1024 * 1024)
    with pytest.raises(SheetError) as caught:
        sheets.read_limited(upload, length=upload.left)
    assert caught.value.code == "TOO_LARGE" and "50.0 MB" in caught.value.message and upload.read_bytes == 0
    upload = Endless(50 * 1024 * 1024)  # no Content-Length: stops just past the limit
    assert code_of(lambda: sheets.read_limited(upload)) == "TOO_LARGE"
    assert upload.read_bytes == sheets.MAX_BYTES + 1
    assert sheets.read_limited(io.BytesIO(b"small"), length=5) == b"small"


def test_a_workbook_that_unpacks_to_more_than_the_limit_is_refused(monkeypatch):
    monkeypatch.setattr(sheets, "MAX_UNPACKED", 2 * 1024 * 1024)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"\x00" * (8 * 1024 * 1024))
    assert len(out.getvalue()) < 100_000  # small on disk
    with pytest.raises(SheetError) as caught:
        sheets.read_table(out.getvalue(), "bomb.xlsx")
    assert caught.value.code == "TOO_LARGE" and "解压后" in caught.value.message


def test_too_many_rows_are_refused(monkeypatch):
    monkeypatch.setattr(sheets, "MAX_ROWS", 3)
    rows = [HEADER] + [["", f"志愿者{i}", f"1380013{i:04d}", "声乐", "海宁"] for i in range(5)]
    assert code_of(lambda: sheets.read_table(csv_bytes(rows), "x.csv", "volunteers")) == "TOO_MANY_ROWS"


def test_an_empty_csv_says_it_is_empty():
    assert code_of(lambda: sheets.read_table(b"  \r\n", "x.csv")) == "NO_HEADER"


# ------------------------------------------------------------------ writing


def test_an_export_has_bold_frozen_headers_text_phones_and_no_formula():
    rows = [
        {
            "volunteer_id": "haining-v01",
            "name": '=HYPERLINK("http://x","点我")',
            "phone": "13800138000",
            "max_hours_per_month": "40",
        },
        {"volunteer_id": "haining-v02", "name": "-减号开头", "phone": "0573-87654321", "union_card": "@abc"},
    ]
    book = load_workbook(io.BytesIO(sheets.write_table("volunteers", rows)))
    ws = book["志愿者"]
    assert [c.value for c in ws[1]][:3] == ["编号", "姓名", "手机号"]
    assert ws["A1"].font.bold and ws.freeze_panes == "A2"
    assert ws["B2"].value == '\'=HYPERLINK("http://x","点我")' and ws["B2"].data_type == "s"
    assert ws["B3"].value == "'-减号开头"
    assert ws["C2"].value == "13800138000" and ws["C2"].number_format == "@"
    assert ws["H2"].value == 40  # a number column stays a number
    assert not any(c.data_type == "f" for row in ws.iter_rows() for c in row)
    assert ws.column_dimensions["C"].width >= 14
    # read back, the escaped cells are the text they were
    table = sheets.read_table(sheets.write_table("volunteers", rows), "x.xlsx", "volunteers")
    assert table.rows[1]["cells"]["name"] == "'-减号开头"
    assert importing.unescape(table.rows[1]["cells"]["name"]) == "-减号开头"


@pytest.mark.parametrize("kind", importing.KINDS)
def test_a_template_has_chinese_headers_an_example_row_and_a_guide(kind):
    data = sheets.template(kind)
    book = load_workbook(io.BytesIO(data))
    assert book.sheetnames == [importing.spec_of(kind).sheet, "说明"]
    headers = [c.value for c in book.worksheets[0][1]]
    assert headers == [c.header for c in importing.columns(kind)]
    guide = [row[0].value for row in book["说明"].iter_rows(min_row=2)]
    assert set(headers) <= set(guide)
    table = sheets.read_table(data, sheets.download_name(kind, "template"), kind)
    assert len(table.rows) == 1 and table.warnings == []
    assert sheets.download_name(kind, "template").endswith("导入模板.xlsx")


def test_the_list_may_be_on_a_later_sheet():
    book = Workbook()
    book.active.title = "封面"
    book.active.append(["海宁市工人文化宫 2026 年志愿者名册"])
    ws = book.create_sheet("志愿者")
    ws.append(HEADER)
    ws.append(["", "王芳", "13800138000", "声乐", "海宁"])
    out = io.BytesIO()
    book.save(out)
    table = sheets.read_table(out.getvalue(), "名册.xlsx", "volunteers")
    assert table.sheet == "志愿者" and table.rows[0]["row"] == 2
