"""A palace's lists through the running system over HTTP: a workbook with a merged title row and a
GBK CSV of each kind previewed and confirmed; the same file again changes nothing; an export read
back changes nothing; a formula is refused and never stored; a picture is a clear 400; another
palace's dispatcher is refused; a preview whose records changed meanwhile is a 409; and 5,000
volunteers at once."""

import io
import time

import pytest
from nameko.standalone.rpc import ClusterRpcProxy
from openpyxl import Workbook, load_workbook

from tests.helpers import signed_in

pytestmark = pytest.mark.e2e
PASSWORD = "imports-password"
P = "/api/palaces/haining"
DISTRICTS = [{"name": n, "lat": 30.5, "lon": 120.6} for n in ("海宁", "海昌街道", "许村镇")]

HEADERS = {
    "volunteers": ["编号", "姓名", "手机号", "特长", "区域"],
    "programs": ["节目名称", "类型", "时长（分钟）", "人员需求"],
    "troupes": ["队伍名称", "区域", "成员", "节目"],
    "enterprises": ["工会名称", "区域", "地址", "联系人", "联系电话"],
}
FIRST = {  # written in the workbook
    "volunteers": [
        ["", "王芳", "13800138000", "声乐、主持", "海宁"],
        ["", "李强", "139 0000 3333", "舞蹈", "许村镇"],
        ["", "赵磊", "13900001111", "器乐", "海宁"],
    ],
    "programs": [["劳动者之歌", "文艺演出", "90", "声乐×1、舞蹈×1"], ["八段锦课", "培训课程", "60", "八段锦"]],
    "troupes": [["职工艺术团", "海宁", "王芳（13800138000）、13900001111", "劳动者之歌"]],
    "enterprises": [["经编园区工会", "海昌街道", "经编园区 8 号", "李明", "13900002222"]],
}
SECOND = {  # written in the GBK CSV, beside the workbook's rows again
    "volunteers": [["", "张敏", "13700137000", "书法", "海昌街道"]],
    "programs": [["书法讲座", "讲座", "120", "书法"]],
    "troupes": [["书法队", "海昌街道", "13700137000", "书法讲座"]],
    "enterprises": [["皮革城工会", "海宁", "", "", "0573-87654321"]],
}


def workbook(headers, rows, title="海宁市工人文化宫名单") -> bytes:
    book = Workbook()
    ws = book.active
    ws.append([title])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(headers))
    ws.append(headers)
    for r in rows:
        ws.append(r)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def gbk_csv(headers, rows) -> bytes:
    lines = [",".join(headers)] + [",".join(r) for r in rows]
    return ("\r\n".join(lines) + "\r\n").encode("gbk")


@pytest.fixture(scope="module")
def world(module_system):
    base, config = module_system
    with ClusterRpcProxy(config, timeout=30) as rpc:
        for pid, name in (("haining", "海宁市工人文化宫"), ("qingdao", "青岛市工人文化宫")):
            rpc.dispatch.upsert_palace({"palace_id": pid, "name": name, "district": "海宁", "districts": DISTRICTS})
        users = [
            {"username": "disp1", "role": "dispatcher", "palace_id": "haining"},
            {"username": "disp2", "role": "dispatcher", "palace_id": "qingdao"},
            {"username": "admin", "role": "admin"},
        ]
        for user in users:
            rpc.accounts.create_user({**user, "password": PASSWORD})
    sessions = {u["username"]: signed_in(base, u["username"], PASSWORD) for u in users}
    return base, sessions, config


def preview(session, base, kind, data, name, **kw):
    r = session.post(f"{base}{P}/imports/{kind}/preview", files={"file": (name, data)}, timeout=120, **kw)
    return r


def confirm(session, base, kind, preview_id):
    return session.post(f"{base}{P}/imports/{kind}/confirm", json={"preview_id": preview_id}, timeout=120)


def imported(session, base, kind, data, name):
    r = preview(session, base, kind, data, name)
    assert r.status_code == 200, r.text
    shown = r.json()
    done = confirm(session, base, kind, shown["preview_id"])
    assert done.status_code == 200, done.text
    return shown, done.json()


def test_each_kind_from_a_workbook_and_a_gbk_csv_then_again_unchanged_and_an_export_read_back(world):
    base, sessions, _ = world
    disp = sessions["disp1"]
    for kind in ("volunteers", "programs", "troupes", "enterprises"):
        book = workbook(HEADERS[kind], FIRST[kind])
        shown, done = imported(disp, base, kind, book, f"{kind}.xlsx")
        assert shown["counts"]["create"] == len(FIRST[kind]), shown
        assert shown["counts"]["refused"] == 0 and all(r["action"] == "create" for r in shown["rows"])
        assert done["created"] == len(FIRST[kind]) and done["updated"] == 0
        csv = gbk_csv(HEADERS[kind], FIRST[kind] + SECOND[kind])
        shown, done = imported(disp, base, kind, csv, f"{kind}.csv")
        assert shown["counts"] == {
            "create": len(SECOND[kind]),
            "update": 0,
            "unchanged": len(FIRST[kind]),
            "refused": 0,
        }
        assert done["created"] == len(SECOND[kind])
        again = preview(disp, base, kind, book, f"{kind}.xlsx").json()
        assert again["counts"]["unchanged"] == len(FIRST[kind]) and again["counts"]["create"] == 0, again
        exported = disp.get(f"{base}{P}/exports/{kind}")
        assert exported.status_code == 200
        assert exported.headers["Content-Type"].startswith("application/vnd.openxmlformats")
        assert "filename*=UTF-8''" in exported.headers["Content-Disposition"]
        back = preview(disp, base, kind, exported.content, f"{kind}.xlsx").json()
        everything = len(FIRST[kind]) + len(SECOND[kind])
        assert back["counts"] == {"create": 0, "update": 0, "unchanged": everything, "refused": 0}, back
    troupes = disp.get(f"{base}/api/troupes?palace_id=haining").json()
    art = next(t for t in troupes if t["name"] == "职工艺术团")
    assert len(art["members"]) == 2 and len(art["repertoire"]) == 1
    volunteers = {v["name"]: v for v in disp.get(f"{base}/api/volunteers?palace_id=haining").json()}
    assert art["troupe_id"] in volunteers["王芳"]["troupe_ids"]  # the volunteers' side agrees
    assert volunteers["李强"]["phone"] == "13900003333"  # written one way


def test_a_template_downloads_with_its_chinese_name(world):
    base, sessions, _ = world
    r = sessions["disp1"].get(f"{base}{P}/imports/volunteers/template")
    assert r.status_code == 200 and "%E5%BF%97%E6%84%BF%E8%80%85" in r.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(r.content))
    assert book.worksheets[0]["B1"].value == "姓名" and "说明" in book.sheetnames


def test_a_formula_is_refused_and_never_stored(world):
    base, sessions, _ = world
    disp = sessions["disp1"]
    rows = [["", '=HYPERLINK("http://x","点我")', "13600136000", "声乐", "海宁"]]
    shown, done = imported(disp, base, "volunteers", workbook(HEADERS["volunteers"], rows), "f.xlsx")
    (row,) = shown["rows"]
    assert row["action"] == "refused" and row["reasons"][0]["code"] == "FORMULA"
    assert row["reasons"][0]["message"].startswith("第 3 行「姓名」")
    assert done["created"] == 0
    phones = {v["phone"] for v in disp.get(f"{base}/api/volunteers?palace_id=haining").json()}
    assert "13600136000" not in phones


def test_a_picture_named_xlsx_is_a_clear_400_in_the_readers_language(world):
    base, sessions, _ = world
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
    r = preview(sessions["disp1"], base, "volunteers", png, "名单.xlsx")
    assert r.status_code == 400 and r.json()["code"] == "NOT_A_SPREADSHEET"
    assert "不是 Excel 表格" in r.json()["message"]
    r = preview(sessions["disp1"], base, "volunteers", png, "名单.xlsx", headers={"Accept-Language": "en"})
    assert r.status_code == 400 and "Excel" in r.json()["message"] and "表格" not in r.json()["message"]
    raw = sessions["disp1"].post(
        f"{base}{P}/imports/volunteers/preview?filename=a.xlsx",
        data=png,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert raw.status_code == 400 and raw.json()["code"] == "NOT_A_SPREADSHEET"


def test_reasons_are_said_in_english_for_an_english_reader(world):
    base, sessions, _ = world
    rows = [["", "", "12345", "声乐", "火星"]]
    r = preview(
        sessions["disp1"],
        base,
        "volunteers",
        workbook(HEADERS["volunteers"], rows),
        "e.xlsx",
        headers={"Accept-Language": "en"},
    )
    messages = [x["message"] for x in r.json()["rows"][0]["reasons"]]
    assert messages and all(m.startswith("Row 3") for m in messages), messages


def test_another_palaces_dispatcher_is_refused(world):
    base, sessions, _ = world
    other = sessions["disp2"]
    book = workbook(HEADERS["volunteers"], FIRST["volunteers"])
    assert preview(other, base, "volunteers", book, "v.xlsx").status_code == 403
    assert other.get(f"{base}{P}/exports/volunteers").status_code == 403
    assert other.get(f"{base}{P}/imports/volunteers/template").status_code == 403
    shown = preview(sessions["disp1"], base, "volunteers", book, "v.xlsx").json()
    assert confirm(other, base, "volunteers", shown["preview_id"]).status_code == 403
    assert preview(sessions["admin"], base, "volunteers", book, "v.xlsx").status_code == 200


def test_a_preview_whose_records_changed_meanwhile_is_refused_with_409(world):
    base, sessions, config = world
    disp = sessions["disp1"]
    rows = [["", "王芳", "13800138000", "声乐、主持", "海昌街道"]]  # moves 王芳 to another district
    shown = preview(disp, base, "volunteers", workbook(HEADERS["volunteers"], rows), "s.xlsx").json()
    assert shown["counts"]["update"] == 1 and shown["rows"][0]["changes"][0]["old"] == "海宁"
    wang = next(v for v in disp.get(f"{base}/api/volunteers?palace_id=haining").json() if v["name"] == "王芳")
    with ClusterRpcProxy(config, timeout=30) as rpc:
        rpc.dispatch.upsert_volunteer({**wang, "district": "许村镇"})
    stale = confirm(disp, base, "volunteers", shown["preview_id"])
    assert stale.status_code == 409 and stale.json()["message"] == "数据已变化，请重新预览。"
    fresh = preview(disp, base, "volunteers", workbook(HEADERS["volunteers"], rows), "s.xlsx").json()
    assert confirm(disp, base, "volunteers", fresh["preview_id"]).json()["updated"] == 1
    assert confirm(disp, base, "volunteers", fresh["preview_id"]).status_code == 404  # once only


def test_five_thousand_volunteers_preview_and_confirm(world):
    base, sessions, _ = world
    rows = [["", f"志愿者{i:04d}", f"135{i:08d}", "声乐", "海宁"] for i in range(5000)]
    book = workbook(HEADERS["volunteers"], rows)
    started = time.monotonic()
    r = preview(sessions["disp1"], base, "volunteers", book, "big.xlsx")
    previewed = time.monotonic()
    assert r.status_code == 200, r.text[:500]
    assert r.json()["counts"]["create"] == 5000
    done = confirm(sessions["disp1"], base, "volunteers", r.json()["preview_id"])
    finished = time.monotonic()
    assert done.status_code == 200 and done.json()["created"] == 5000
    assert done.json()["invited"] == 5000  # each sent a code to claim an account, in the same call
    print(f"\n5,000 volunteers: preview {previewed - started:.1f} s, confirm {finished - previewed:.1f} s")
    # the same people again, matched by phone, each with a second skill: 5,000 updates, one transaction
    again = [["", name, phone, "声乐，舞蹈", district] for _, name, phone, _, district in rows]
    r = preview(sessions["disp1"], base, "volunteers", workbook(HEADERS["volunteers"], again), "big2.xlsx")
    assert r.status_code == 200 and r.json()["counts"]["update"] == 5000, r.text[:500]
    started = time.monotonic()
    done = confirm(sessions["disp1"], base, "volunteers", r.json()["preview_id"])
    assert done.status_code == 200 and done.json()["updated"] == 5000 and not done.json().get("invited")
    print(f"5,000 volunteers updated: confirm {time.monotonic() - started:.1f} s")
