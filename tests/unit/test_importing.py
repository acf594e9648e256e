"""The rules of an import: what each row would create, update or refuse, and why; export and
import again is a round trip; a file applied twice changes nothing the second time."""

import copy
import datetime as dt
import io
import time

import pytest
from openpyxl import Workbook

from scripts import demo_data
from services.dispatch import importing
from services.dispatch.importing import normalize_phone, preview
from services.gateway import sheets

DATA = demo_data.build(dt.date(2026, 3, 2))
PALACE = next(p for p in DATA["palaces"] if p["palace_id"] == "haining")


def existing() -> dict:
    return {kind: copy.deepcopy([r for r in DATA[kind] if r["palace_id"] == "haining"]) for kind in importing.KINDS}


def row(number, **cells):
    return {"row": number, "cells": cells}


def apply(records: dict, kind: str, writes: list[dict]) -> dict:
    """What the confirm does: upsert each written record by its id."""
    id_field = importing.spec_of(kind).id_field
    by_id = {r[id_field]: r for r in records[kind]}
    for write in writes:
        by_id[write[id_field]] = {**by_id.get(write[id_field], {}), **write}
    return {**records, kind: list(by_id.values())}


def messages(result, n=0):
    return [r["message"] for r in result.rows[n].reasons]


# ------------------------------------------------------------------ cells


@pytest.mark.parametrize(
    ("text", "phone"),
    [
        ("13800138000", "13800138000"),
        ("１３８００１３８０００", "13800138000"),
        ("+86 138-0013-8000", "13800138000"),
        ("86 13800138000", "13800138000"),
        ("0086-138 0013 8000", "13800138000"),
        ("0573-87654321", "0573-87654321"),
        ("(010) 6552 8888", "010-65528888"),
        ("400-820-8820", "400-820-8820"),
        ("138001380000", None),
        ("12345", None),
        ("张三", None),
        ("", None),
    ],
)
def test_phones_are_written_one_way(text, phone):
    assert normalize_phone(text) == phone


def test_every_normalised_phone_passes_the_contract():
    from contracts.payloads import PHONE

    for text in ("13800138000", "0573-87654321", "010-65528888", "400-820-8820"):
        PHONE(normalize_phone(text))


def test_formulas_are_told_from_text():
    formulas = [
        '=HYPERLINK("http://x","点我")',
        "=1+2",
        "+SUM(A1:A3)",
        "-A1",
        "@SUM(A1)",
        "+cmd|' /C calc'!A0",
        "＝１＋２",
    ]
    texts = ["+86 138 0013 8000", "-", "@张三", "- 需要电源", "王芳", "3-5 人"]
    assert all(importing.looks_like_formula(t) for t in formulas)
    assert not any(importing.looks_like_formula(t) for t in texts)


# ------------------------------------------------------------------ volunteers


def test_a_new_volunteer_with_full_width_digits_is_created_with_a_normalised_phone():
    cells = {"name": "周敏", "phone": "１３９ ８８８８ ０００１", "skills": "声乐，主持", "district": "许村镇"}
    result = preview("volunteers", [row(2, **cells)], PALACE, existing())
    assert result.counts == {"create": 1, "update": 0, "unchanged": 0, "refused": 0}
    assert result.rows[0].notes == ["第 2 行「手机号」“１３９ ８８８８ ０００１”已规范为“13988880001”。"]
    [write] = result.writes
    assert write["phone"] == "13988880001" and write["skills"] == ["声乐", "主持"] and write["palace_id"] == "haining"
    assert write["volunteer_id"] == importing.derived_id("haining", "volunteers", "13988880001")


def test_refusals_name_the_row_the_column_and_the_value():
    rows = [
        row(12, name="李伟", phone="138001380000", district="海宁"),
        row(13, name="赵六", phone="13800138001", district="西湖区"),
        row(14, name="钱七", phone="13800138002", district="海宁", skills="声乐、跳大神"),
        row(15, name="孙八", phone="13800138003", district="海宁", max_travel_km="很远"),
        row(16, name="", phone="13800138004", district="海宁"),
        row(17, name="周九" * 30, phone="13800138005", district="海宁"),
    ]
    result = preview("volunteers", rows, PALACE, existing())
    assert result.counts["refused"] == 6 and result.writes == []
    assert messages(result, 0) == [
        "第 12 行「手机号」“138001380000”不是有效的手机号（应为 11 位手机号，或带区号的固定电话）。"
    ]
    assert messages(result, 1) == [
        "第 13 行「区域」“西湖区”不是本文化宫的区域（可选：海宁、海昌街道、许村镇、长安镇）。"
    ]
    assert messages(result, 2)[0].startswith("第 14 行「特长」“声乐、跳大神”中的“跳大神”不是本文化宫已有的特长（已有：")
    assert messages(result, 3) == ["第 15 行「最远路程（公里）」“很远”不是数字。"]
    assert messages(result, 4) == ["第 16 行「姓名」是必填项，不能为空。"]
    assert messages(result, 5)[0].endswith("最多 50 字，现在是 60 字。")
    assert {r.reasons[0]["code"] for r in result.rows} == {
        "BAD_PHONE",
        "UNKNOWN_DISTRICT",
        "UNKNOWN_SKILL",
        "BAD_NUMBER",
        "REQUIRED",
        "INVALID",
    }


def test_the_palace_can_name_its_skills():
    palace = {**PALACE, "skills": ["绘画"]}
    result = preview(
        "volunteers",
        [row(2, name="吴画", phone="13800138000", district="海宁", skills="主持、绘画")],
        palace,
        existing(),
    )
    assert messages(result) == ["第 2 行「特长」“主持、绘画”中的“主持”不是本文化宫已有的特长（已有：绘画）。"]


def test_a_phone_twice_in_the_file_refuses_the_later_row_naming_the_earlier():
    rows = [
        row(2, name="周敏", phone="13988880001", district="海宁"),
        row(3, name="王强", phone="13988880002", district="海宁"),
        row(4, name="周敏敏", phone="+86 139-8888-0001", district="海宁"),
    ]
    result = preview("volunteers", rows, PALACE, existing())
    assert [r.action for r in result.rows] == ["create", "create", "refused"]
    assert messages(result, 2) == ["第 4 行「手机号」“13988880001”与第 2 行重复，本行不导入。"]
    assert len(result.writes) == 2


def test_an_id_twice_in_the_file_refuses_the_later_row():
    rows = [row(2, volunteer_id="haining-v01", name="甲"), row(3, volunteer_id="haining-v01", name="乙")]
    result = preview("volunteers", rows, PALACE, existing())
    assert result.rows[0].action == "update" and messages(result, 1) == [
        "第 3 行「编号」“haining-v01”与第 2 行重复，本行不导入。"
    ]


def test_a_volunteer_is_found_by_phone_and_the_changes_are_listed_old_to_new():
    records = existing()
    volunteer = records["volunteers"][0]
    spaced = f"{volunteer['phone'][:3]} {volunteer['phone'][3:7]} {volunteer['phone'][7:]}"
    cells = {"name": volunteer["name"], "phone": spaced, "district": "长安镇", "skills": "声乐、书法"}
    result = preview("volunteers", [row(2, **cells)], PALACE, records)
    [line] = result.rows
    assert (line.action, line.record_id) == ("update", volunteer["volunteer_id"])
    changed = {c["column"]: (c["old"], c["new"]) for c in line.changes}
    assert changed["特长"] == ("、".join(volunteer["skills"]), "声乐、书法")
    if volunteer["district"] != "长安镇":
        assert changed["区域"] == (volunteer["district"], "长安镇")
    assert "手机号" not in changed  # the same phone written with spaces is no change
    [write] = result.writes
    assert write["availability"] == volunteer["availability"]  # free time is never imported
    assert write["troupe_ids"] == volunteer["troupe_ids"]


def test_an_id_and_a_phone_of_two_different_volunteers_are_refused():
    records = existing()
    first, second = records["volunteers"][:2]
    result = preview(
        "volunteers",
        [row(5, volunteer_id=first["volunteer_id"], name="x", phone=second["phone"], district="海宁")],
        PALACE,
        records,
    )
    [reason] = result.rows[0].reasons
    assert reason["code"] == "CONFLICT" and reason["message"].startswith(
        f"第 5 行「手机号」“{second['phone']}”已属于志愿者“{second['name']}”"
    )


def test_an_id_of_another_palace_cannot_be_claimed():
    result = preview(
        "volunteers",
        [row(2, volunteer_id="qingdao-v01", name="x", phone="13800138000", district="海宁")],
        PALACE,
        existing(),
        taken_ids={"qingdao-v01"},
    )
    assert messages(result) == ["第 2 行「编号」“qingdao-v01”已被其他文化宫使用，请换一个编号或留空。"]


def test_a_formula_is_refused_and_an_escaped_export_cell_is_text():
    rows = [
        row(2, name='=HYPERLINK("http://x","点我")', phone="13800138000", district="海宁"),
        row(3, name="'-减号开头", phone="13800138001", district="海宁", union_card="'@001"),
    ]
    result = preview("volunteers", rows, PALACE, existing())
    assert result.rows[0].reasons[0]["code"] == "FORMULA"
    assert result.writes[0]["name"] == "-减号开头" and result.writes[0]["union_card"] == "@001"


def test_a_landline_and_preferences_are_read():
    cells = {
        "name": "郑老师",
        "phone": "0573 8765 4321",
        "district": "海宁",
        "preferred_kinds": "演出、讲座",
        "preferred_districts": "海宁、许村镇",
        "max_hours_per_month": "２０",
    }
    [write] = preview("volunteers", [row(2, **cells)], PALACE, existing()).writes
    assert write["phone"] == "0573-87654321" and write["preferred_kinds"] == ["performance", "lecture"]
    assert write["preferred_districts"] == ["海宁", "许村镇"] and write["max_hours_per_month"] == 20.0


# ------------------------------------------------------------------ programs, troupes, enterprises


@pytest.mark.parametrize(
    ("needs", "parsed"),
    [
        ("主持×1、舞蹈×4", [{"skill": "主持", "count": 1}, {"skill": "舞蹈", "count": 4}]),
        ("主持:1；舞蹈：２", [{"skill": "主持", "count": 1}, {"skill": "舞蹈", "count": 2}]),
        ("声乐*2, 器乐 x1", [{"skill": "声乐", "count": 2}, {"skill": "器乐", "count": 1}]),
        ("放映 2人", [{"skill": "放映", "count": 2}]),
        ("书法", [{"skill": "书法", "count": 1}]),
    ],
)
def test_a_programs_needs_are_read(needs, parsed):
    cells = {"title": "新节目", "kind": "文艺演出", "duration_minutes": "90", "needs": needs}
    [write] = preview("programs", [row(2, **cells)], PALACE, existing()).writes
    assert write["needs"] == parsed and write["kind"] == "performance" and write["duration_minutes"] == 90


def test_a_program_needing_an_unknown_skill_or_too_long_is_refused():
    rows = [
        row(2, title="杂技专场", kind="演出", duration_minutes="90", needs="杂技×3、主持×1"),
        row(3, title="马拉松讲座", kind="讲座", duration_minutes="900", needs="主持"),
        row(4, title="无类型", kind="游戏", duration_minutes="60", needs="主持"),
    ]
    result = preview("programs", rows, PALACE, existing())
    assert messages(result, 0)[0].startswith(
        "第 2 行「人员需求」“杂技×3、主持×1”中的“杂技×3”的“杂技”不是本文化宫已有的特长"
    )
    assert messages(result, 1) == ["第 3 行「时长（分钟）」“900”应为 15 到 720 之间的整数。"]
    assert messages(result, 2)[0].startswith("第 4 行「类型」“游戏”不是节目类型（可选：文艺演出、")


def test_a_programs_title_finds_it():
    records = existing()
    program = records["programs"][0]
    cells = {
        "title": program["title"],
        "kind": "文艺演出",
        "duration_minutes": "100",
        "needs": "声乐×2、舞蹈×2、器乐×1",
    }
    [line] = preview("programs", [row(2, **cells)], PALACE, records).rows
    assert line.action == "update" and line.record_id == program["program_id"]
    assert line.changes == [{"field": "duration_minutes", "column": "时长（分钟）", "old": "120", "new": "100"}]


def test_troupe_members_by_id_phone_name_and_phone_or_unknown():
    records = existing()
    a, b, c = records["volunteers"][:3]
    members = f"{a['volunteer_id']}、{b['phone']}，{c['name']}（{c['phone']}）"
    cells = {"name": "新艺术团", "district": "海宁", "members": members, "repertoire": "八段锦 工间健身培训"}
    result = preview(
        "troupes", [row(2, **cells), row(3, name="空团", district="海宁", members="查无此人")], PALACE, records
    )
    write = result.writes[0]
    assert write["members"] == [a["volunteer_id"], b["volunteer_id"], c["volunteer_id"]]
    assert write["repertoire"] == ["haining-baduanjin"] and "shared" not in write
    assert messages(result, 1) == [
        "第 3 行「成员」“查无此人”找不到这个志愿者（请先导入志愿者，或填写志愿者编号、手机号）。"
    ]


def test_a_name_two_volunteers_share_is_refused_as_a_member():
    records = existing()
    twin = {**records["volunteers"][0], "volunteer_id": "haining-twin", "phone": "13700000000"}
    records["volunteers"].append(twin)
    result = preview("troupes", [row(2, name="团", district="海宁", members=twin["name"])], PALACE, records)
    assert result.rows[0].reasons[0]["code"] == "AMBIGUOUS"


def test_troupe_links_make_the_volunteers_agree_with_the_members():
    records = existing()
    troupe = {**records["troupes"][0], "members": [records["volunteers"][-1]["volunteer_id"]]}
    changed = importing.troupe_links([troupe], records["volunteers"])
    assert records["volunteers"][-1]["volunteer_id"] in [v["volunteer_id"] for v in changed]
    assert all((troupe["troupe_id"] in v["troupe_ids"]) == (v["volunteer_id"] in troupe["members"]) for v in changed)


def test_an_enterprise_is_found_by_contact_phone_or_by_name():
    records = existing()
    first, second = records["enterprises"][:2]
    rows = [
        row(2, name=first["name"] + "（新名）", district=first["district"], contact_phone=first["contact_phone"]),
        row(3, name=second["name"], district=second["district"], contact_phone="13911112222"),
        row(4, name=second["name"], district=second["district"], contact_phone=first["contact_phone"]),
    ]
    result = preview("enterprises", rows, PALACE, records)
    assert [(r.action, r.record_id) for r in result.rows[:2]] == [
        ("update", first["enterprise_id"]),
        ("update", second["enterprise_id"]),
    ]
    assert result.rows[2].reasons[0]["code"] == "CONFLICT"


# ------------------------------------------------------------------ round trips


@pytest.mark.parametrize("kind", importing.KINDS)
def test_export_then_import_is_unchanged_everywhere(kind):
    records = existing()
    data = sheets.export(kind, records, PALACE)
    table = sheets.read_table(data, f"{kind}.xlsx", kind)
    result = preview(kind, table.rows, PALACE, records)
    assert len(result.rows) == len(records[kind]) > 0
    assert result.counts["unchanged"] == len(records[kind]), [
        r.reasons or r.changes for r in result.rows if r.action != "unchanged"
    ]
    assert result.writes == [] and table.warnings == [] and result.warnings == []


def test_a_file_applied_twice_changes_nothing_the_second_time():
    records = existing()
    rows = [row(i + 2, name=f"新人{i}", phone=f"1370000{i:04d}", district="海宁", skills="声乐") for i in range(20)]
    rows[3]["cells"]["volunteer_id"] = "my-own-id"
    first = preview("volunteers", rows, PALACE, records)
    assert first.counts["create"] == 20
    records = apply(records, "volunteers", first.writes)
    second = preview("volunteers", rows, PALACE, records)
    assert second.counts == {"create": 0, "update": 0, "unchanged": 20, "refused": 0} and second.writes == []
    again = preview("volunteers", rows, PALACE, existing())
    assert [r.record_id for r in again.rows] == [r.record_id for r in first.rows] and again.digest == first.digest


def test_a_new_derived_id_never_takes_a_record_whose_phone_changed():
    records = existing()
    derived = importing.derived_id("haining", "volunteers", "13700000001")
    records["volunteers"].append({**records["volunteers"][0], "volunteer_id": derived, "phone": "13600000000"})
    [line] = preview("volunteers", [row(2, name="新", phone="13700000001", district="海宁")], PALACE, records).rows
    assert line.action == "create" and line.record_id != derived


def test_5000_rows_are_previewed_in_seconds():
    book = Workbook()
    ws = book.active
    ws.append(["志愿者名单（5000 人）"])
    ws.merge_cells("A1:F1")
    ws.append(["编号", "姓名", "手机号", "特长", "区域", "偏好服务类型"])
    districts = ["海宁", "海昌街道", "许村镇", "长安镇"]
    for i in range(5000):
        ws.append(["", f"志愿者{i}", f"138{i:08d}", "声乐、主持", districts[i % 4], "文艺演出"])
    out = io.BytesIO()
    book.save(out)
    started = time.perf_counter()
    table = sheets.read_table(out.getvalue(), "5000.xlsx", "volunteers")
    read = time.perf_counter()
    result = preview("volunteers", table.rows, PALACE, existing())
    done = time.perf_counter()
    exported = sheets.write_table(
        "volunteers", importing.export_rows("volunteers", apply(existing(), "volunteers", result.writes))
    )
    written = time.perf_counter()
    print(
        f"\n5000 rows: read {read - started:.2f}s, preview {done - read:.2f}s, export {written - done:.2f}s ({len(exported) // 1024} KB)"
    )
    assert result.counts["create"] == 5000 and len(result.writes) == 5000


def test_a_column_left_out_keeps_what_is_stored_and_says_so():
    records = existing()
    volunteer = records["volunteers"][0]
    cells = {"name": volunteer["name"], "phone": volunteer["phone"], "district": volunteer["district"]}
    result = preview("volunteers", [row(2, **cells)], PALACE, records)
    assert result.rows[0].action == "unchanged"
    assert "文件中没有「特长」一列，已有记录的特长保持不变。" in result.warnings


def test_a_required_cell_left_empty_on_an_update_is_refused():
    records = existing()
    volunteer = records["volunteers"][0]
    result = preview(
        "volunteers",
        [row(7, volunteer_id=volunteer["volunteer_id"], name="", phone=volunteer["phone"], district="海宁")],
        PALACE,
        records,
    )
    assert messages(result) == ["第 7 行「姓名」是必填项，不能为空。"]


def test_the_preview_is_plain_data_for_a_call_between_services():
    import json

    result = preview(
        "programs", [row(2, title="新节目", kind="讲座", duration_minutes="60", needs="心理咨询")], PALACE, existing()
    )
    again = json.loads(json.dumps(result.to_dict(), ensure_ascii=False))
    assert again["counts"]["create"] == 1 and again["writes"][0]["needs"] == [{"skill": "心理咨询", "count": 1}]
    assert again["rows"][0]["action"] == "create" and len(again["digest"]) == 64


def test_a_new_id_is_keyed_by_the_previews_secret_so_it_never_tells_the_phone():
    rows = [{"row": 2, "cells": {"name": "欧阳晓岚", "phone": "13911112222", "skills": "声乐", "district": "海宁"}}]
    palace = {"palace_id": "haining", "district": "海宁"}
    existing = {"volunteers": [], "troupes": [], "programs": [], "enterprises": []}

    def new_id(salt):
        (write,) = importing.preview("volunteers", rows, palace, existing, salt=salt).writes
        return write["volunteer_id"]

    assert new_id("a" * 32) == new_id("a" * 32)  # the preview confirmed writes the ids it showed
    assert new_id("a" * 32) != new_id("b" * 32)
    assert new_id("a" * 32) != importing.derived_id("haining", "volunteers", "13911112222")
    assert new_id("a" * 32).startswith("haining-")
