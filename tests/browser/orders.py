"""The order rules as a clerk meets them, in headless Chromium: the enterprise union's form starts
from the union's own district and lists the dates the palace could staff the chosen program
(tapping one fills the first window); windows in the past, within the lead time or ending before they
start get their messages under the window; a pasted 1,200-character note shows 1200/1000 in red
and is refused with its message, not cut; nothing is placed. Then the palace's dispatcher places
an urgent order for tomorrow through "代企业下单（加急）", sees it in the inbox marked 加急, and
the union sees it marked 文化宫代下.

Run as a program (it needs a running system with the demo data):
    python -m tests.browser.orders --base http://127.0.0.1:8000 [--screens var/screens]
It prints a JSON summary (the urgent order's id, the union's order count before) and exits
non-zero at the first step that does not happen.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import sys

from playwright.sync_api import expect

from tests.browser import journey
from tests.browser.journey import CN, DESKTOP, DISPATCHER, ENTERPRISE, PALACE, PHONE, PROGRAM, Journey

FMT = "%Y-%m-%dT%H:%M"
NOTE_MAX = 1000


class OrderRules(Journey):
    def run(self):
        return self.in_browser(self._rules)

    def count(self) -> int:
        return self.api(ENTERPRISE, "GET", "/api/orders?per_page=1")["total"]

    def _rules(self, browser):
        pages = self.pages = []
        me = self.api(ENTERPRISE, "GET", "/api/me")
        union = self.api(ENTERPRISE, "GET", f"/api/enterprises/{me['enterprise_id']}")
        palace = next(p for p in self.api(DISPATCHER, "GET", "/api/palaces") if p["palace_id"] == PALACE)
        lead = palace.get("min_lead_hours")
        lead = 48 if lead is None else lead
        assert lead > 10, f"the palace's lead time is {lead} h: a window 10 hours ahead would be allowed"
        before = self.summary["orders_before"] = self.count()
        now = dt.datetime.now(CN).replace(second=0, microsecond=0)

        # the union's form starts from its own district
        ent = self.login(browser, ENTERPRISE, DESKTOP)
        pages.append(ent)
        ent.click("[data-tab=order]")
        expect(ent.locator("#district-select")).to_have_value(union["district"])
        ent.select_option("#program-select", PROGRAM)

        # the dates the palace could staff now for the program, as the form lists them: tapping the
        # first fills the first window with it
        query = f"program_id={PROGRAM}&district={union['district']}"
        staffable = self.api(ENTERPRISE, "GET", f"/api/palaces/{PALACE}/staffable-windows?{query}")
        assert staffable, "the demo palace could staff its program on no day of the next weeks"
        offered = ent.locator("#suggested-list .suggested-window")
        expect(offered).to_have_count(len(staffable))
        offered.first.click()
        start = dt.datetime.fromisoformat(staffable[0]["start"]).astimezone(CN).strftime(FMT)
        end = dt.datetime.fromisoformat(staffable[0]["end"]).astimezone(CN).strftime(FMT)
        expect(ent.locator("#windows .window .w-start").first).to_have_value(start)
        expect(ent.locator("#windows .window .w-end").first).to_have_value(end)
        self.summary["suggested_windows"] = len(staffable)
        self.shot(ent, "enterprise-order-suggested-windows")
        ent.fill("input[name=site_address]", "经编产业园职工之家二楼")
        ent.fill("input[name=audience_size]", "80")
        ent.fill("input[name=contact_name]", "沈敏")
        ent.fill("input[name=contact_phone]", "13905730000")

        # a pasted 1,200-character note: the counter is red, the form refuses it, nothing is cut
        note = ("职工书法兴趣小组希望老师多讲楷书基础。" * 70)[:1200]
        assert len(note) == 1200
        ent.fill("textarea[name=note]", note)
        counter = ent.locator("#order-form [data-count=note]")
        expect(counter).to_have_text(f"1200/{NOTE_MAX}")
        expect(counter).to_have_class(re.compile(r"\bover\b"))
        red = ent.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--red').trim()")
        assert counter.evaluate("e => getComputedStyle(e).color") == _rgb(red)
        ent.click("#order-form button[type=submit]")
        expect(ent.locator("#order-form [data-err=note]")).to_have_text(f"备注最多 {NOTE_MAX} 字，现在是 1200 字。")
        assert len(ent.input_value("textarea[name=note]")) == 1200
        ent.fill("textarea[name=note]", "春节前写春联。")

        # a window in the past and one within the lead time: each message under its own window
        yesterday = now - dt.timedelta(days=1)
        soon = now + dt.timedelta(hours=10)
        ent.click("#add-window")
        boxes = ent.locator("#windows .window")
        expect(boxes).to_have_count(2)
        for n, start in enumerate((yesterday, soon)):
            boxes.nth(n).locator(".w-start").fill(start.strftime(FMT))
            boxes.nth(n).locator(".w-end").fill((start + dt.timedelta(hours=2)).strftime(FMT))
        ent.click("#order-form button[type=submit]")
        expect(boxes.nth(0).locator(".w-err-start")).to_contain_text("这个时间已经过去了。")
        expect(boxes.nth(1).locator(".w-err-start")).to_contain_text("最早可约")
        expect(boxes.nth(1).locator(".w-err-start")).to_contain_text(f"（需提前 {lead} 小时）")
        expect(boxes.nth(1).locator(".w-err-start")).not_to_contain_text("这个时间已经过去了。")
        expect(boxes.nth(0).locator(".w-err-end")).to_be_empty()
        expect(ent.locator("#order-form .form-error")).not_to_be_empty()
        # an end before the start: its message under that window's end
        boxes.nth(0).locator("button").click()
        expect(boxes).to_have_count(1)
        week = (now + dt.timedelta(days=7)).replace(hour=15, minute=0)
        boxes.nth(0).locator(".w-start").fill(week.strftime(FMT))
        boxes.nth(0).locator(".w-end").fill((week - dt.timedelta(hours=1)).strftime(FMT))
        ent.click("#order-form button[type=submit]")
        expect(boxes.nth(0).locator(".w-err-end")).to_have_text("结束时间应晚于开始时间。")
        expect(boxes.nth(0).locator(".w-err-start")).to_be_empty()
        self.shot(ent, "enterprise-order-time-rules")
        assert self.count() == before, "an order was placed from a form with mistakes"

        # the dispatcher places an urgent order for the union, for tomorrow
        dsp = self.login(browser, DISPATCHER, DESKTOP)
        pages.append(dsp)
        dsp.click("[data-tab=board]")
        dsp.locator("[data-panel=board] .urgent-open").click()
        dialog = dsp.locator("#urgent-dialog")
        expect(dialog).to_be_visible()
        dsp.select_option("#urgent-enterprise", union["enterprise_id"])
        form = dsp.locator("#urgent-form")
        expect(form.locator("input[name=site_address]")).to_have_value(union.get("address") or "")
        expect(form.locator("input[name=district]")).to_have_value(union["district"])
        if union.get("contact_name"):
            expect(form.locator("input[name=contact_name]")).to_have_value(union["contact_name"])
        dsp.select_option("#urgent-program", PROGRAM)
        form.locator("input[name=audience_size]").fill("60")
        if not union.get("address"):
            form.locator("input[name=site_address]").fill("经编产业园职工之家二楼")
        if not union.get("contact_phone"):
            form.locator("input[name=contact_name]").fill("沈敏")
            form.locator("input[name=contact_phone]").fill("13905730000")
        form.locator("textarea[name=note]").fill("企业临时来电，明天上午职工大会后。")
        # a start already past is refused in the dialog too, under the window
        dsp.fill("#urgent-start", yesterday.strftime(FMT))
        dsp.fill("#urgent-end", (yesterday + dt.timedelta(hours=2)).strftime(FMT))
        form.locator("button[type=submit]").click()
        expect(form.locator("[data-err='windows.0.start']")).to_have_text("这个时间已经过去了。")
        tomorrow = (now + dt.timedelta(days=1)).replace(hour=10, minute=0)
        if tomorrow - now < dt.timedelta(hours=2):  # a little after midnight: later the same day
            tomorrow = tomorrow.replace(hour=14)
        dsp.fill("#urgent-start", tomorrow.strftime(FMT))
        dsp.fill("#urgent-end", (tomorrow + dt.timedelta(hours=2)).strftime(FMT))
        self.shot(dsp, "dispatcher-urgent-order")
        if self.screens:
            dsp.locator("#urgent-dialog").screenshot(path=os.path.join(self.screens, "dispatcher-urgent-dialog.png"))
        form.locator("button[type=submit]").click()
        expect(dialog).to_be_hidden()
        expect(dsp.locator("#toast")).to_contain_text("加急订单")
        placed = self.until("the urgent order is placed", lambda: self.count() == before + 1)
        assert placed
        order = self.api(ENTERPRISE, "GET", "/api/orders?per_page=1")["items"][0]
        assert order["urgent"] and order["placed_by"] == {"username": DISPATCHER, "role": "dispatcher"}, order
        self.summary["order_id"] = order["order_id"]
        row = dsp.locator(f"#inbox li[data-order='{order['order_id']}']")
        expect(row.locator(".placed-by.urgent")).to_have_text(f"加急 · 调度员代下（{DISPATCHER}）")
        row.locator("button.link").click()
        expect(row.locator(".detail")).to_contain_text("地点：")
        expect(row.locator(".placed-by")).to_have_count(1)  # said once, above the details
        self.shot(dsp, "dispatcher-urgent-inbox")

        # the union sees it among its orders, placed by the palace
        self.visit(ent, "/app/enterprise#orders")
        mine = ent.locator(f"#orders li[data-order='{order['order_id']}']")
        expect(mine.locator(".badge.placed-by")).to_have_text("文化宫代下")
        self.shot(ent, "enterprise-order-by-palace")

        if self.screens:  # the dialog on a phone
            phone = self.login(browser, DISPATCHER, PHONE)
            pages.append(phone)
            phone.click("[data-tab=orders]")
            phone.locator("[data-panel=orders] .urgent-open").click()
            expect(phone.locator("#urgent-dialog")).to_be_visible()
            phone.select_option("#urgent-enterprise", union["enterprise_id"])
            phone.screenshot(path=os.path.join(self.screens, "dispatcher-urgent-dialog-phone.png"))

        for page in pages:
            assert not page.errors, f"script errors on {page.url}: {page.errors}"


def _rgb(hex_color: str) -> str:
    h = hex_color.lstrip("#")
    return "rgb({}, {}, {})".format(*(int(h[i : i + 2], 16) for i in (0, 2, 4)))


if __name__ == "__main__":
    sys.exit(journey.main(walk=OrderRules, doc=__doc__))
