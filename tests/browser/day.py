"""The day of a delivery through the screens, in headless Chromium: a volunteer on a phone sees when
check-in opens for a job days ahead; on a job that has started with nobody checked in, the
dispatcher's 服务完成 dialog says so, warns that no hours will count and refuses without a reason; a
volunteer who checks out right after checking in sees why nothing counted, and so does the
dispatcher on the plan; recorded with someone checked in, the hours list says it too.
Run as a program (it needs a running system with the demo data):
    python -m tests.browser.day --base http://127.0.0.1:8000 [--screens var/log/browser/day]
It prints a JSON summary and exits non-zero at the first step that does not happen.
"""

from __future__ import annotations

import datetime as dt
import re
import sys

from playwright.sync_api import expect

from tests.browser import journey
from tests.browser.journey import CN, DESKTOP, DISPATCHER, ENTERPRISE, PALACE, PHONE, Journey

PROGRAM = "haining-baduanjin"  # 八段锦 ×1, 90 minutes
SKILL = "八段锦"


class Day(Journey):
    def windows(self) -> tuple[tuple[dt.datetime, dt.datetime], tuple[dt.datetime, dt.datetime]]:
        """A job four days ahead, and one whose slot started a quarter of an hour or so ago."""
        ahead = dt.datetime.combine(dt.datetime.now(CN).date() + dt.timedelta(days=4), dt.time(14), CN)
        now = dt.datetime.now(CN).replace(second=0, microsecond=0)
        started = now - dt.timedelta(minutes=15 + now.minute % 15)
        return (ahead, ahead + dt.timedelta(minutes=90)), (started, started + dt.timedelta(minutes=90))

    def scheduled(self, start: dt.datetime, end: dt.datetime) -> dict:
        """An order of the program placed, accepted and answered through the API; its plan."""
        for v in self.api(DISPATCHER, "GET", f"/api/volunteers?palace_id={PALACE}"):
            if SKILL in v["skills"]:
                windows = [*v["availability"], {"start": start.isoformat(), "end": end.isoformat()}]
                self.api(
                    DISPATCHER, "PUT", f"/api/volunteers/{v['volunteer_id']}/availability", {"availability": windows}
                )
        order = self.api(  # the dispatcher's urgent order for the union: one may be under way already
            DISPATCHER,
            "POST",
            "/api/orders",
            {
                "enterprise_id": ENTERPRISE,
                "urgent": True,
                "program_id": PROGRAM,
                "site_address": "经编产业园三号车间",
                "district": "海宁",
                "audience_size": 40,
                "windows": [{"start": start.isoformat(), "end": end.isoformat()}],
                "contact_name": "沈敏",
                "contact_phone": "13905730000",
            },
        )
        oid = order["order_id"]
        self.api(DISPATCHER, "POST", f"/api/orders/{oid}/accept", {})
        (offer,) = self.until(
            "an offer to a 八段锦 teacher",
            lambda: [
                o
                for o in self.api(DISPATCHER, "GET", f"/api/orders/{oid}/plan", missing={"offers": []})["offers"]
                if o["status"] == "pending"
            ],
        )
        self.api(offer["volunteer_id"], "POST", f"/api/offers/{offer['offer_id']}/accept", {})
        return self.until(
            "the order is scheduled",
            lambda: (p := self.api(DISPATCHER, "GET", f"/api/orders/{oid}/plan"))["status"] == "scheduled" and p,
        )

    def run(self):
        (ahead, ahead_end), (started, started_end) = self.windows()
        future = self.scheduled(ahead, ahead_end)
        today = self.scheduled(started, started_end)
        self.summary.update(future_order=future["order_id"], today_order=today["order_id"])
        return self.in_browser(self._day, future, today)

    def _day(self, browser, future, today):
        pages = self.pages = []
        far, near = future["crew"][0]["volunteer_id"], today["crew"][0]["volunteer_id"]
        self.summary.update(future_volunteer=far, today_volunteer=near)

        # a job four days ahead: the phone says when check-in opens, and no code field
        vol = self.login(browser, far, PHONE)
        pages.append(vol)
        self.visit(vol, "/app/volunteer#schedule")
        item = vol.locator(f"#schedule li[data-order='{future['order_id']}']")
        expect(item.locator(".opens")).to_have_text(re.compile(r"^签到将于 .+ 开放$"))
        expect(item.locator("input[name=code]")).to_have_count(0)
        self.summary["opens_shown"] = item.locator(".opens").inner_text()
        self.shot(vol, "day-volunteer-check-in-opens")

        # the job that has started, nobody checked in: the dialog warns and wants a reason
        dsp = self.login(browser, DISPATCHER, DESKTOP)
        pages.append(dsp)

        def open_plan():
            self.visit(dsp, "/app/dispatcher#orders")
            mine = dsp.locator(f"#orders li[data-order='{today['order_id']}']")
            mine.locator("button.link").click()
            expect(mine.locator("table.offers")).to_be_visible()
            return mine

        mine = open_plan()
        mine.locator("button.ok", has_text="服务完成").click()
        dialog = dsp.locator("#edit-dialog")
        expect(dialog.locator(".complete-summary")).to_contain_text("已签到 0 / 1 人")
        expect(dialog.locator(".complete-summary")).to_contain_text("未签到")
        expect(dialog.locator(".warn-nobody")).to_have_text("无人签到：志愿者不计服务时长，可稍后由调度员补记时长。")
        dsp.fill("#edit-dialog input[name=people_served]", "36")
        dsp.click("#edit-dialog button[type=submit]")
        expect(dialog.locator("[data-err=reason]")).to_have_text("没有志愿者签到，请说明原因（例如：现场代签未登记）。")
        expect(dialog.locator(".warn-nobody")).to_be_visible()  # the warning stays beside the refusal
        self.shot(dsp, "day-dispatcher-complete-nobody")
        dialog.locator("[data-close]").click()
        assert self.api(DISPATCHER, "GET", f"/api/orders/{today['order_id']}/plan")["status"] == "scheduled"

        # the volunteer checks in with the code and checks out at once: the phone says why no hours
        code = self.api(ENTERPRISE, "GET", f"/api/orders/{today['order_id']}/plan")["sign_in_code"]
        phone = vol if near == far else self.login(browser, near, PHONE)
        if phone is not vol:
            pages.append(phone)
        self.visit(phone, "/app/volunteer#schedule")
        task = phone.locator(f"#schedule li[data-order='{today['order_id']}']")
        task.locator("input[name=code]").fill(code)
        task.locator("button[type=submit]").click()
        expect(task).to_contain_text("已签到")
        task.locator("button.primary").click()
        expect(task).to_contain_text("已签退")
        expect(task.locator(".hours-reason")).to_have_text("0 小时 · 出勤不足 50%，未计时长")
        self.shot(phone, "day-volunteer-short-check-out")

        # the dispatcher's plan says it too; recorded now (someone checked in), no reason needed
        mine = open_plan()
        row = mine.locator(f"table.offers tr[data-volunteer='{near}']")
        expect(row.locator(".hours-reason")).to_have_text("0 小时 · 出勤不足 50%，未计时长")
        mine.locator("button.ok", has_text="服务完成").click()
        expect(dialog.locator(".complete-summary")).to_contain_text("已签到 1 / 1 人")
        expect(dialog.locator(".complete-summary")).to_contain_text("出勤不足 50%，未计时长")
        expect(dialog.locator(".warn-nobody")).to_have_count(0)
        self.shot(dsp, "day-dispatcher-complete")
        dsp.fill("#edit-dialog input[name=people_served]", "36")
        dsp.click("#edit-dialog button[type=submit]")
        self.until(
            "the order is delivered",
            lambda: self.api(ENTERPRISE, "GET", f"/api/orders/{today['order_id']}")["status"] == "delivered",
        )
        mine = open_plan()
        expect(mine.locator(f"table.offers tr[data-volunteer='{near}'] .hours-reason")).to_contain_text(
            "出勤不足 50%，未计时长"
        )
        self.shot(dsp, "day-dispatcher-plan-delivered")

        # and the volunteer's hours list
        self.visit(phone, "/app/volunteer#hours")
        expect(phone.locator("#hour-items li").first).to_contain_text("出勤不足 50%，未计时长")
        self.shot(phone, "day-volunteer-hours")

        for page in pages:
            assert not page.errors, page.errors


if __name__ == "__main__":
    sys.exit(journey.main(walk=Day, doc=__doc__))
