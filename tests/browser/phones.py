"""Every page and tab of every role on phone-sized screens (360×740 and 390×844), in headless
Chromium: nothing scrolls sideways (the page's scrollWidth stays within the viewport) and every
visible button, tab, link used as a button and radio/checkbox label is at least 44 px high. Then
open panels follow what happens elsewhere without a reload: the dispatcher's order details show a
volunteer signed in through the API, the enterprise's show the survey answers as they arrive.

Run as a program (it needs a running system with the demo data):
    python -m tests.browser.phones --base http://127.0.0.1:8000 [--screens docs/screens]
It builds what it shows through the API (an order scheduled today, one delivered with its survey
open), prints each failure with the element and its size, then a JSON summary, and exits non-zero
when a page scrolls sideways, a target is too small or a panel went stale. Like journey.py it runs
outside the test process (Playwright's event loop and eventlet's monkey-patching don't mix).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sys
import time

from playwright.sync_api import expect, sync_playwright

from tests.browser.journey import ARGS, CHROMIUM, CN, Journey

VIEWPORTS = [(360, 740), (390, 844)]
PALACE = "haining"
ENTERPRISE = "haining-jingbian"
DISPATCHER = "dispatcher-haining"
ADMIN = "admin"
SCHEDULED_PROGRAM, SCHEDULED_SKILL = "haining-baduanjin", "八段锦"  # one volunteer: the one signed in
DELIVERED_PROGRAM, DELIVERED_SKILL = "haining-mind", "心理咨询"  # one volunteer: the survey's order
MIN_TARGET = 44
TIMEOUT_MS = 20_000
expect.set_options(timeout=TIMEOUT_MS)

# in the page: how wide it is, what sticks out, and which touch targets are too small
MEASURE = """(minTarget) => {
  const doc = document.documentElement;
  const width = doc.clientWidth;
  const describe = (e) => {
    let s = e.tagName.toLowerCase();
    if (e.id) s += "#" + e.id;
    else if (e.classList.length) s += "." + [...e.classList].join(".");
    for (const a of ["data-tab", "name", "type"]) if (e.getAttribute(a)) s += `[${a}=${e.getAttribute(a)}]`;
    const text = (e.innerText || e.value || e.getAttribute("aria-label") || "").trim().replace(/\\s+/g, " ").slice(0, 30);
    return text ? `${s} "${text}"` : s;
  };
  const shown = (e) => {
    if (e.closest("[hidden], dialog:not([open])")) return false;
    const r = e.getBoundingClientRect();
    if (!r.width || !r.height) return false;
    const style = getComputedStyle(e);
    return style.visibility !== "hidden" && style.display !== "none";
  };
  const modal = document.querySelector("dialog[open]");
  const scope = modal || document;
  const small = [];
  for (const e of scope.querySelectorAll("button, a[href], [role=tab], label, input[type=submit]")) {
    if (e.tagName === "LABEL" && !e.querySelector("input[type=radio], input[type=checkbox]")) continue;
    if (!shown(e)) continue;
    if (e.tagName === "A" && getComputedStyle(e).display === "inline" && e.closest("p, .done")) continue;  // a link in running text
    const r = e.getBoundingClientRect();
    if (r.height < minTarget - 0.5) small.push({what: describe(e), width: Math.round(r.width), height: Math.round(r.height * 10) / 10});
  }
  const wide = [];
  for (const e of document.body.querySelectorAll("*")) {
    const r = e.getBoundingClientRect();
    if (!r.width || r.right <= width + 0.5 || e.closest("[hidden]")) continue;
    let inside = false;  // what overflows inside its own scrolling box does not widen the page
    for (let p = e.parentElement; p && p !== document.body; p = p.parentElement) {
      const o = getComputedStyle(p).overflowX;
      if (o === "auto" || o === "scroll" || o === "hidden") { inside = true; break; }
    }
    if (!inside) wide.push({what: describe(e), right: Math.round(r.right)});
  }
  const header = document.querySelector("header.top");
  const rows = (items) => {  // how many rows the items take: their vertical middles, more than 12 px apart
    const middles = items.filter(shown).map(e => { const r = e.getBoundingClientRect(); return r.top + r.height / 2; }).sort((a, b) => a - b);
    return middles.filter((m, i) => i === 0 || m - middles[i - 1] > 12).length;
  };
  const overlaps = [];  // header items drawn over one another
  if (header) {
    const items = [...header.querySelectorAll(".brand, #bell, #who-name, #logout, .langs a")].filter(shown)
      .map(e => [e, e.getBoundingClientRect()]).sort((a, b) => a[1].left - b[1].left);
    for (let i = 1; i < items.length; i++) {
      if (items[i][1].left < items[i - 1][1].right - 1) overlaps.push(describe(items[i - 1][0]) + " / " + describe(items[i][0]));
    }
  }
  const headerRows = header ? rows([...header.querySelectorAll(".brand, #bell, #who-name, #logout, .langs a")]) : 0;
  const tabs = document.querySelector(".tabs");
  const tabRows = tabs && shown(tabs) ? rows([...tabs.querySelectorAll("[role=tab], a")]) : 0;
  return {scrollWidth: doc.scrollWidth, width, small, wide: wide.slice(-6), headerRows, tabRows, overlaps,
          tabsScroll: tabs ? tabs.scrollWidth > tabs.clientWidth : false};
}"""


class Phones(Journey):
    def __init__(self, base: str, password: str, screens: str | None):
        super().__init__(base, password, screens)
        self.failures: list[str] = []
        self.pages: list[dict] = []

    def until(self, what: str, check, seconds: float = 40):
        return super().until(what, check, seconds)

    def status(self, order_id: str) -> str:
        return self.api(ENTERPRISE, "GET", f"/api/orders/{order_id}")["status"]

    def offered(self, order_id: str):
        """The offers sent for an order, or "nobody" when the planner found no one."""
        plan = self.api(DISPATCHER, "GET", f"/api/orders/{order_id}/plan", missing={"offers": []})
        if plan.get("status") == "unfulfillable":
            return "nobody"
        return [o for o in plan["offers"] if o["status"] == "pending"]

    def scheduled_order(self, program: str, skill: str, start: dt.datetime) -> tuple[str, str]:
        """An order placed, accepted and taken by a volunteer: (order id, volunteer id). Today, in the
        first two-hour slot from `start` on where someone with the skill has nothing else."""
        for slot in range(6):
            begin = start + dt.timedelta(hours=2 * slot)
            end = begin + dt.timedelta(hours=2)
            for v in self.api(DISPATCHER, "GET", f"/api/volunteers?palace_id={PALACE}"):
                if skill in v["skills"]:  # free then (the demo's availability is random by day)
                    windows = [*v["availability"], {"start": begin.isoformat(), "end": end.isoformat()}]
                    self.api(
                        DISPATCHER,
                        "PUT",
                        f"/api/volunteers/{v['volunteer_id']}/availability",
                        {"availability": windows},
                    )
            order = self.api(  # the dispatcher's urgent order for the union: today, under way already
                DISPATCHER,
                "POST",
                "/api/orders",
                {
                    "enterprise_id": ENTERPRISE,
                    "urgent": True,
                    "program_id": program,
                    "site_address": "经编产业园职工之家三楼",
                    "district": "海宁",
                    "audience_size": 40,
                    "windows": [{"start": begin.isoformat(), "end": end.isoformat()}],
                    "contact_name": "沈敏",
                    "contact_phone": "13905730000",
                    "client_ref": f"phones-{program}-{time.time_ns()}",
                },
            )
            order_id = order["order_id"]
            self.until("the order reaches the palace", lambda oid=order_id: self.status(oid) == "submitted")
            self.api(DISPATCHER, "POST", f"/api/orders/{order_id}/accept", {})
            offers = self.until(f"an offer for {program}", lambda oid=order_id: self.offered(oid))
            if offers == "nobody":  # everyone with the skill is busy then (an earlier run): the next slot
                self.api(ENTERPRISE, "POST", f"/api/orders/{order_id}/cancel", {})
                continue
            for offer in offers:
                self.api(offer["volunteer_id"], "POST", f"/api/offers/{offer['offer_id']}/accept", {})
            self.until("the order is scheduled", lambda oid=order_id: self.status(oid) == "scheduled")
            self.slots[order_id] = (begin, end)
            return order_id, offers[0]["volunteer_id"]
        raise AssertionError(f"nobody with {skill} could be scheduled today")

    def build(self):
        self.slots: dict[str, tuple[dt.datetime, dt.datetime]] = {}
        now = dt.datetime.now(CN).replace(second=0, microsecond=0)
        start = now - dt.timedelta(minutes=15 + now.minute % 15)  # started: it can be checked in and completed
        self.scheduled_id, self.volunteer = self.scheduled_order(SCHEDULED_PROGRAM, SCHEDULED_SKILL, start)
        self.delivered_id, _ = self.scheduled_order(DELIVERED_PROGRAM, DELIVERED_SKILL, start)
        end = self.slots[self.delivered_id][1].isoformat()  # recorded at its end (a later slot may not have begun)
        self.api(
            DISPATCHER,
            "POST",
            f"/api/orders/{self.delivered_id}/complete",
            {"people_served": 38, "at": end, "reason": "代签未登记"},
        )
        survey = self.until(
            "the survey is open",
            lambda: (
                (s := self.api(ENTERPRISE, "GET", f"/api/orders/{self.delivered_id}/survey", missing={})).get("status")
                == "open"
                and s
            ),
        )
        self.survey_link = survey["link"]
        self.survey_token = survey["link"].rstrip("/").rsplit("/", 1)[-1]

    # ------------------------------------------------------------ the screens
    def device(self, width: int, height: int) -> dict:
        return {
            "viewport": {"width": width, "height": height},
            "device_scale_factor": 2,
            "is_mobile": True,
            "has_touch": True,
            "locale": "zh-CN",
            "timezone_id": "Asia/Shanghai",
        }

    def open(self, browser, width: int, height: int, user: str | None):
        context = browser.new_context(**self.device(width, height))
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        if user:
            page.goto(self.base + "/login")
            page.fill("input[name=username]", user)
            page.fill("input[name=password]", self.password)
            page.click("button[type=submit]")
            page.wait_for_url(re.compile(r"/app/"))
            page.wait_for_selector("body[data-ready]", state="attached")
        return page

    def check(self, page, width: int, name: str):
        page.evaluate("document.getElementById('toast') && (document.getElementById('toast').className = '')")
        page.wait_for_timeout(250)  # let the last paint settle
        m = page.evaluate(MEASURE, MIN_TARGET)
        label = f"{width} {name}"
        self.pages.append(
            {
                "page": label,
                "scrollWidth": m["scrollWidth"],
                "small": len(m["small"]),
                "headerRows": m["headerRows"],
                "tabRows": m["tabRows"],
            }
        )
        if m["scrollWidth"] > width:
            self.failures.append(
                f"{label}: the page is {m['scrollWidth']} px wide on a {width} px screen; sticking out: {m['wide']}"
            )
        for s in m["small"]:
            self.failures.append(
                f"{label}: {s['what']} is {s['height']} px high ({s['width']} px wide), under {MIN_TARGET}"
            )
        if m["overlaps"]:
            self.failures.append(f"{label}: header items drawn over one another: {m['overlaps']}")
        if m["headerRows"] > 1:
            self.failures.append(f"{label}: the header takes {m['headerRows']} rows")
        if m["tabRows"] > 1:
            self.failures.append(f"{label}: the tabs take {m['tabRows']} rows")
        if self.screens:
            os.makedirs(self.screens, exist_ok=True)
            page.screenshot(path=os.path.join(self.screens, f"phone-{width}-{name}.png"), full_page=True)

    def tap(self, target):
        """A tap; when something lies over the target, the click is sent to it anyway and noted."""
        try:
            target.click(timeout=4000)
        except Exception as err:  # noqa: BLE001 - Playwright's TimeoutError names what intercepts
            covered = re.findall(r"<[^>]+>[^\n]* intercepts pointer events", str(err))
            self.failures.append(f"{target} could not be tapped: {covered[-1] if covered else str(err)[:200]}")
            target.dispatch_event("click")

    def tab(self, page, name: str):
        self.tap(page.locator(f".tabs [data-tab={name}]"))
        page.wait_for_timeout(400)  # what the tab loads

    def bell(self, page, width: int, who: str):
        self.tap(page.locator("#bell"))
        expect(page.locator("#notif-panel")).to_be_visible()
        self.check(page, width, f"{who}-notifications")
        self.tap(page.locator("#notif-settings-open"))
        expect(page.locator("#notif-settings")).to_be_visible()
        self.check(page, width, f"{who}-notification-settings")
        self.tap(page.locator("#notif-cancel"))
        expect(page.locator("#notif-settings")).to_be_hidden()
        if page.locator("#notif-panel").is_visible():
            self.tap(page.locator("#bell"))

    def details(self, page, order_id: str):
        item = page.locator(f"#orders li[data-order='{order_id}']")
        expect(item).to_be_visible()
        self.tap(item.locator("button.link", has_text=re.compile("详情")).first)
        expect(item.locator(".detail > *").first).to_be_visible()
        page.wait_for_timeout(400)
        return item

    def walk(self, browser, width: int, height: int):
        anon = self.open(browser, width, height, None)
        anon.goto(self.base + "/login")
        self.check(anon, width, "login")
        anon.goto(self.base + "/register")
        self.check(anon, width, "register")
        self.tap(anon.locator("label:has(input[name=role][value=volunteer])"))
        self.check(anon, width, "register-volunteer")
        anon.goto(self.base + "/reset?token=not-a-real-one")
        expect(anon.locator("#reset-form")).to_be_visible()
        self.check(anon, width, "reset")
        anon.goto(self.base + self.survey_link)
        expect(anon.locator("#survey-form")).to_be_visible()
        self.check(anon, width, "survey")
        anon.context.close()

        ent = self.open(browser, width, height, ENTERPRISE)
        self.tab(ent, "order")
        self.check(ent, width, "enterprise-order")
        self.tab(ent, "orders")
        self.check(ent, width, "enterprise-orders")
        item = self.details(ent, self.delivered_id)
        item.scroll_into_view_if_needed()
        self.check(ent, width, "enterprise-details")
        self.tap(self.details(ent, self.scheduled_id).locator("button", has_text="取消订单"))
        expect(ent.locator("#cancel-dialog")).to_be_visible()
        self.check(ent, width, "enterprise-cancel-dialog")
        self.tap(ent.locator("#cancel-dialog [data-close]"))
        self.tab(ent, "catalog")
        self.check(ent, width, "enterprise-catalog")
        self.bell(ent, width, "enterprise")
        ent.context.close()

        dsp = self.open(browser, width, height, DISPATCHER)
        for name in ("board", "orders", "calendar", "registrations", "resources", "alliance"):
            self.tab(dsp, name)
            self.check(dsp, width, f"dispatcher-{name}")
            if name == "orders":
                self.details(dsp, self.scheduled_id)
                self.check(dsp, width, "dispatcher-details")
            if name == "resources":
                self.tap(dsp.locator("#new-program"))
                expect(dsp.locator("#edit-dialog")).to_be_visible()
                self.check(dsp, width, "dispatcher-edit-dialog")
                self.tap(dsp.locator("#edit-dialog [data-close]"))
        self.bell(dsp, width, "dispatcher")
        dsp.goto(self.base + "/app/reports")
        expect(dsp.locator("#totals .card").first).to_be_visible()
        self.check(dsp, width, "reports")
        dsp.context.close()

        adm = self.open(browser, width, height, ADMIN)  # the admin's own tabs
        self.tab(adm, "retention")
        expect(adm.locator("#retention-table tbody tr").first).to_be_visible()
        self.check(adm, width, "admin-retention")
        self.tab(adm, "privacy")
        expect(adm.locator("#notice-editor textarea")).not_to_be_empty()
        expect(adm.locator("#notice-current")).to_contain_text("版")
        self.check(adm, width, "admin-privacy")
        adm.context.close()

        vol = self.open(browser, width, height, self.volunteer)
        for name in ("offers", "schedule", "hours", "free"):
            self.tab(vol, name)
            self.check(vol, width, f"volunteer-{name}")
        self.bell(vol, width, "volunteer")
        vol.context.close()
        for page in (anon, ent, dsp, adm, vol):
            if page.errors:
                self.failures.append(f"{width}: script errors on {page.url}: {page.errors}")

    # ------------------------------------------------------------ open panels follow the system
    def stale(self, browser):
        width, height = VIEWPORTS[-1]
        dsp = self.open(browser, width, height, DISPATCHER)
        self.tab(dsp, "orders")
        item = self.details(dsp, self.scheduled_id)
        row = item.locator(f"tr[data-volunteer='{self.volunteer}']")
        expect(row.locator("button", has_text="代签到")).to_be_visible()
        dsp.evaluate("window.__stayed = true")
        row.locator("button", has_text="缺席").focus()  # the reader's place: kept through the redraw
        begin = self.slots[self.scheduled_id][0].isoformat()
        self.api(
            DISPATCHER,
            "POST",
            f"/api/orders/{self.scheduled_id}/check-in",
            {"volunteer_id": self.volunteer, "at": begin},
        )
        started = time.time()
        try:
            # the board polls every 5 s; a busy machine may make a tick slow
            expect(row).to_contain_text("已签到", timeout=20_000)
            expect(row.locator("button", has_text="代签到")).to_have_count(0)
            assert dsp.evaluate("window.__stayed === true"), "the page was reloaded"
            focused = dsp.evaluate("document.activeElement.textContent")
            assert focused == "缺席", f"the focus moved to {focused!r}"
            self.followed = {"dispatcher_check_in_s": round(time.time() - started, 1)}
        except AssertionError as err:
            self.failures.append(f"the dispatcher's open details did not show the check-in: {str(err)[:300]}")
            self.followed = {}
        dsp.context.close()

        ent = self.open(browser, width, height, ENTERPRISE)
        self.tab(ent, "orders")
        item = self.details(ent, self.delivered_id)
        counted = item.locator(".detail", has_text=re.compile(r"已收到 \d+ 份评议"))
        expect(counted).to_be_visible()
        before = int(re.search(r"已收到 (\d+) 份评议", item.inner_text()).group(1))
        ent.evaluate("window.__stayed = true")
        self.api(
            None,
            "POST",
            f"/api/surveys/{self.survey_token}/responses",
            {"overall": 5, "client_ref": f"phones-{time.time_ns()}"},
        )
        started = time.time()
        try:
            expect(item).to_contain_text(
                f"已收到 {before + 1} 份评议", timeout=25_000
            )  # polled every 8 s, stored within a few
            assert ent.evaluate("window.__stayed === true"), "the page was reloaded"
            self.followed["enterprise_responses_s"] = round(time.time() - started, 1)
        except AssertionError as err:
            self.failures.append(f"the enterprise's open details did not show the new answer: {str(err)[:300]}")
        ent.context.close()

    def language(self, browser):
        """English from the header keeps the tab one is on, and its dates name the month."""
        for width, height in VIEWPORTS:
            self.english(browser, width, height)

    def english(self, browser, width: int, height: int):
        ent = self.open(browser, width, height, ENTERPRISE)
        self.tab(ent, "orders")
        self.tap(ent.locator("header .langs a[href^='/lang/en']"))
        try:
            expect(ent.locator("html")).to_have_attribute("lang", "en")
            ent.wait_for_selector("body[data-ready]", state="attached")
            expect(ent.locator("[data-tab=orders]")).to_have_attribute("aria-selected", "true")
            assert ent.url.endswith("#orders"), ent.url
            expect(ent.locator("#orders li .muted").first).to_contain_text(
                re.compile(
                    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{1,2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{2}:\d{2}"
                )
            )
            self.check(ent, width, "enterprise-orders-en")
        except AssertionError as err:
            self.failures.append(f"switching to English: {str(err)[:300]}")
        ent.context.close()

    def run(self):
        self.build()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            try:
                for width, height in VIEWPORTS:
                    self.walk(browser, width, height)
                self.stale(browser)
                self.language(browser)
            finally:
                browser.close()
        for failure in self.failures:
            print("FAIL", failure)
        return {"pages": self.pages, "followed": getattr(self, "followed", {}), "failures": len(self.failures)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--password", default=os.environ.get("DEMO_PASSWORD", "songwenhua-demo"))
    parser.add_argument(
        "--screens", default=None, help="keep a screenshot of each page here (phone-<width>-<page>.png)"
    )
    args = parser.parse_args(argv)
    phones = Phones(args.base, args.password, args.screens)
    summary = phones.run()
    print(json.dumps(summary, ensure_ascii=False))
    return 1 if phones.failures else 0


if __name__ == "__main__":
    sys.exit(main())
