"""The dispatcher's 导入与导出 panel in headless Chromium: a workbook of programs uploaded, the
preview's counts and rows (新建, 拒绝 with its reason), 确认导入, and the program in the catalogue;
then the same file again on a 360-px-wide phone, every row 不变, without sideways scrolling.

Run as a program (it needs a running system with the demo data):
    python -m tests.browser.imports --base http://127.0.0.1:8000 [--screens var/screens]
It prints a JSON summary and exits non-zero at the first step that does not happen.
"""

from __future__ import annotations

import io
import sys
import uuid

from openpyxl import Workbook
from playwright.sync_api import expect

from tests.browser import journey
from tests.browser.journey import DESKTOP, DISPATCHER, PALACE, PHONE, Journey

NARROW = {**PHONE, "viewport": {"width": 360, "height": 740}}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def workbook(rows) -> bytes:
    book = Workbook()
    ws = book.active
    ws.append(["节目名称", "类型", "时长（分钟）", "人员需求"])
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


class ImportPanel(Journey):
    def run(self):
        return self.in_browser(self._walk)

    def upload(self, page, data: bytes):
        page.click("[data-tab=imports]")
        page.select_option("#import-kind", "programs")
        page.set_input_files("#import-file", files=[{"name": "节目.xlsx", "mimeType": XLSX, "buffer": data}])
        page.click("#import-upload")
        expect(page.locator("#import-preview .counts")).to_be_visible()

    def _walk(self, browser):
        pages = self.pages = []
        title = f"职工合唱快闪{uuid.uuid4().hex[:4]}"
        data = workbook([[title, "文艺演出", "60", "声乐×2"], ["游园会", "游戏", "60", "声乐"]])

        desk = self.login(browser, DISPATCHER, DESKTOP)
        pages.append(desk)
        self.upload(desk, data)
        rows = desk.locator("#import-preview tbody tr")
        expect(rows).to_have_count(2)
        expect(rows.nth(0)).to_contain_text("新建")
        expect(rows.nth(1)).to_contain_text("拒绝")
        expect(rows.nth(1)).to_contain_text("不是节目类型")
        self.shot(desk, "dispatcher-import-preview")
        desk.get_by_role("button", name="确认导入").click()
        expect(desk.locator("#import-preview")).to_contain_text("已导入：新建 1 条，更新 0 条。")
        titles = [p["title"] for p in self.api(DISPATCHER, "GET", f"/api/programs?palace_id={PALACE}")]
        assert title in titles, titles
        self.summary["program"] = title

        # the import is in the audit log, under the dispatcher's name, and can be filtered to
        desk.click("[data-tab=audit]")
        desk.select_option("#audit-filters [name=kind]", "records_imported")
        desk.click("#audit-filters button[type=submit]")
        entry = desk.locator("#audit-list .audit-entry").first
        expect(entry).to_contain_text("导入名单")
        expect(entry).to_contain_text(DISPATCHER)
        expect(entry).to_contain_text("名单：节目 · 新建：1")
        self.shot(desk, "dispatcher-audit")

        phone = self.login(browser, DISPATCHER, NARROW)
        pages.append(phone)
        self.upload(phone, data)
        expect(phone.locator("#import-preview tbody tr").nth(0)).to_contain_text("不变")
        expect(phone.get_by_role("button", name="确认导入")).to_be_disabled()  # nothing to write
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"the import panel scrolls sideways on a 360-px phone: {width} px"
        self.summary["phone_scroll_width"] = width
        self.shot(phone, "dispatcher-import-phone")
        phone.click("[data-tab=audit]")
        expect(phone.locator("#audit-list .audit-entry").first).to_be_visible()
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"the audit log scrolls sideways on a 360-px phone: {width} px"
        self.summary["audit_phone_scroll_width"] = width
        self.shot(phone, "dispatcher-audit-phone")

        for page in pages:
            assert not page.errors, f"script errors on {page.url}: {page.errors}"


if __name__ == "__main__":
    sys.exit(journey.main(walk=ImportPanel, doc=__doc__))
