"""Each role's main path through the screens, in headless Chromium (Debian's; Playwright drives it
with executablePath, no browser is downloaded): an enterprise union orders, a dispatcher accepts
and reads the crew's explanation, volunteers accept on their phones, check in with the sign-in code
and check out, the dispatcher records the delivery, workers answer the survey on phone-sized
screens, and the enterprise sees its order closed with its satisfaction.

Run as a program (it needs a running system with the demo data):
    python -m tests.browser.journey --base http://127.0.0.1:8000 [--screens docs/screens]
It prints a JSON summary and exits non-zero at the first step that does not happen. It runs outside
the test process because Playwright's event loop and eventlet's monkey-patching don't mix.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import requests
from playwright.sync_api import expect, sync_playwright

CN = dt.timezone(dt.timedelta(hours=8))
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"viewport": {"width": 1280, "height": 860}, "locale": "zh-CN", "timezone_id": "Asia/Shanghai"}
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "locale": "zh-CN",
    "timezone_id": "Asia/Shanghai",
}
PALACE = "haining"
ENTERPRISE = "haining-jingbian"
DISPATCHER = "dispatcher-haining"
PROGRAM = "haining-calligraphy"  # 书法 ×2: two volunteers on the crew
SKILL = "书法"
TIMEOUT_MS = 20_000
expect.set_options(timeout=TIMEOUT_MS)


class Journey:
    def __init__(self, base: str, password: str, screens: str | None):
        self.base = base.rstrip("/")
        self.password = password
        self.screens = screens
        self.summary: dict = {"screens": []}
        self.tokens: dict[str, str] = {}

    # ------------------------------------------------------------ helpers
    def api(self, user: str | None, method: str, path: str, payload=None, missing=None):
        """A call as ``user`` (signed in once), or as nobody (the audience) with ``None``."""
        if user is not None and user not in self.tokens:
            r = requests.post(self.base + "/api/login", json={"username": user, "password": self.password}, timeout=10)
            r.raise_for_status()
            self.tokens[user] = r.json()["token"]
        headers = {"Authorization": "Bearer " + self.tokens[user]} if user is not None else {}
        r = requests.request(method, self.base + path, json=payload, headers=headers, timeout=30)
        if r.status_code == 404 and missing is not None:
            return missing
        if r.status_code >= 400:
            raise AssertionError(f"{method} {path} → {r.status_code} {r.text}")
        return r.json()

    def until(self, what: str, check, seconds: float = 30):
        deadline = time.time() + seconds
        while time.time() < deadline:
            value = check()
            if value:
                return value
            time.sleep(0.3)
        raise AssertionError(f"did not happen within {seconds:g} s: {what}")

    def shot(self, page, name: str):
        if not self.screens:
            return
        os.makedirs(self.screens, exist_ok=True)
        path = os.path.join(self.screens, name + ".png")
        page.evaluate("document.getElementById('toast') && (document.getElementById('toast').className = '')")
        page.wait_for_timeout(300)  # let the last paint settle
        page.screenshot(path=path, full_page=True)
        self.summary["screens"].append(path)

    def evidence(self):
        """On a failure, what each open screen showed (under var/log/browser/)."""
        out = os.path.join(os.path.dirname(__file__), "..", "..", "var", "log", "browser")
        os.makedirs(out, exist_ok=True)
        for n, page in enumerate(getattr(self, "pages", [])):
            try:
                page.screenshot(path=os.path.join(out, f"failure-{n}.png"), full_page=True)
            except Exception:  # noqa: BLE001 - a closed page has nothing to show
                pass
        print(f"screens at the failure: {os.path.abspath(out)}", file=sys.stderr)

    def scan(self, box) -> str:
        """What a phone reads from a QR code as drawn on the screen: a picture of the element,
        decoded by zbarimg; the code must fill at least 200 CSS pixels."""
        size = box.locator("svg").bounding_box()
        assert size and size["width"] >= 200 and abs(size["width"] - size["height"]) < 1, size
        self.summary.setdefault("qr_css_px", []).append(round(size["width"], 1))
        with tempfile.NamedTemporaryFile(suffix=".png") as png:
            box.screenshot(path=png.name)
            run = subprocess.run(["zbarimg", "--raw", "-q", png.name], capture_output=True, text=True, timeout=30)
        decoded = run.stdout.split()
        assert len(decoded) == 1, f"zbarimg read {decoded!r} (exit {run.returncode})"
        return decoded[0]

    def visit(self, page, path: str):
        """Open a screen afresh (a change of the #tab alone would not reload the page)."""
        page.goto(self.base + path)
        page.reload()
        page.wait_for_selector("body[data-ready]", state="attached")

    def login(self, browser, user: str, device: dict, password: str | None = None):
        context = browser.new_context(**device)
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(self.base + "/login")
        if not self.summary["screens"]:
            self.shot(page, "login")
        page.fill("input[name=username]", user)
        page.fill("input[name=password]", password or self.password)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r"/app/"))
        page.wait_for_selector("body[data-ready]", state="attached")
        page.errors = errors  # checked at the end: no script error on any screen
        return page

    # ------------------------------------------------------------ the path
    def window(self) -> tuple[dt.datetime, dt.datetime]:
        """A slot that started a quarter of an hour or so ago, exactly the program's two hours long
        (a dispatcher's urgent order may record one under way): the crew can check in at once and
        the delivery can be recorded, which only a started slot allows."""
        now = dt.datetime.now(CN).replace(second=0, microsecond=0)
        start = now - dt.timedelta(minutes=15 + now.minute % 15)
        return start, start + dt.timedelta(hours=2)

    def prepare(self, start, end):
        """The calligraphers are free then (the demo's availability is random by day)."""
        for v in self.api(DISPATCHER, "GET", f"/api/volunteers?palace_id={PALACE}"):
            if SKILL in v["skills"]:
                windows = [*v["availability"], {"start": start.isoformat(), "end": end.isoformat()}]
                self.api(
                    DISPATCHER, "PUT", f"/api/volunteers/{v['volunteer_id']}/availability", {"availability": windows}
                )

    def in_browser(self, walk, *args):
        """Run ``walk(browser, *args)`` in a fresh headless Chromium; on a failure, keep what each
        open screen showed. Returns the summary."""
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            try:
                walk(browser, *args)
            except Exception:
                self.evidence()
                raise
            finally:
                browser.close()
        return self.summary

    def run(self):
        start, end = self.window()
        self.prepare(start, end)
        return self.in_browser(self._run, start, end)

    def _run(self, browser, start, end):
        pages = self.pages = []
        fmt = "%Y-%m-%dT%H:%M"

        # an enterprise union orders from the catalog
        ent = self.login(browser, ENTERPRISE, DESKTOP)
        pages.append(ent)
        ent.click("[data-tab=catalog]")
        expect(ent.locator("#catalog .card").first).to_be_visible()
        self.shot(ent, "enterprise-catalog")
        ent.click("[data-tab=order]")
        ent.select_option("#program-select", PROGRAM)
        ent.fill("input[name=site_address]", "经编产业园职工之家二楼")
        ent.fill("input[name=audience_size]", "120")
        later = (start + dt.timedelta(days=3)).replace(hour=14, minute=0)  # a union books days ahead
        ent.fill("#windows .w-start", later.strftime(fmt))
        ent.fill("#windows .w-end", (later + dt.timedelta(hours=3)).strftime(fmt))
        ent.fill("input[name=contact_name]", "沈敏")
        ent.fill("input[name=contact_phone]", "13905730000")
        ent.fill("textarea[name=note]", "春节前写春联，职工自带红纸。")
        self.shot(ent, "enterprise-order-form")
        ent.click("#order-form button[type=submit]")
        item = ent.locator("#orders li[data-status=submitted]").first
        expect(item).to_be_visible()
        self.summary["booked_ahead"] = item.get_attribute("data-order")
        self.shot(ent, "enterprise-orders")

        # a form with a mistake: the message is next to the field, in Chinese
        ent.click("[data-tab=order]")
        ent.select_option("#program-select", PROGRAM)
        ent.fill("input[name=contact_phone]", "call me")
        ent.click("#order-form button[type=submit]")
        expect(ent.locator("#order-form [data-err=contact_phone]")).to_have_text(re.compile("电话号码格式不对"))
        expect(ent.locator("#order-form .form-error")).not_to_be_empty()

        # the day's delivery, already under way, is entered by the dispatcher as an urgent order for
        # the union (the union itself books two days ahead at the least); the rest of the path follows it
        order_id = self.api(
            DISPATCHER,
            "POST",
            "/api/orders",
            {
                "enterprise_id": ENTERPRISE,
                "urgent": True,
                "program_id": PROGRAM,
                "site_address": "经编产业园职工之家二楼",
                "district": "海宁",
                "audience_size": 120,
                "windows": [{"start": start.isoformat(), "end": end.isoformat()}],
                "contact_name": "沈敏",
                "contact_phone": "13905730000",
                "note": "春节前写春联，职工自带红纸。",
                "client_ref": f"journey-{int(time.time())}",
            },
        )["order_id"]
        self.summary["order_id"] = order_id

        # the dispatcher accepts it from the inbox; the planner proposes a crew with reasons
        dsp = self.login(browser, DISPATCHER, DESKTOP)
        pages.append(dsp)
        row = dsp.locator(f"#inbox li[data-order='{order_id}']")
        expect(row).to_be_visible()
        self.shot(dsp, "dispatcher-board")
        row.locator("button.ok").click()
        offers = self.until(
            "offers sent to two calligraphers",
            lambda: [
                o
                for o in self.api(DISPATCHER, "GET", f"/api/orders/{order_id}/plan", missing={"offers": []})["offers"]
                if o["status"] == "pending"
            ],
        )
        assert len(offers) == 2, offers
        dsp.click("[data-tab=orders]")
        mine = dsp.locator(f"#orders li[data-order='{order_id}']")
        mine.locator("button.link").click()
        explain = mine.locator(".explain")
        expect(explain).to_contain_text(SKILL)
        expect(explain.locator("ul.why li").first).to_contain_text("：")
        words = explain.locator("ul.why").first.inner_text()
        assert not re.search(r"\d+\.\d{3}|同分", words), words  # reasons in words, no raw scores
        expect(explain.locator("table").first).to_be_hidden()  # the numbers wait behind a toggle
        explain.locator("details.numbers summary").first.click()
        expect(explain.locator("table").first).to_be_visible()
        expect(mine.locator("a.tel").first).to_have_attribute("href", re.compile(r"^tel:\+?\d+$"))
        self.shot(dsp, "dispatcher-plan")

        # volunteers accept on their phones
        crew = []
        for n, offer in enumerate(offers):
            vol = self.login(browser, offer["volunteer_id"], PHONE)
            pages.append(vol)
            card = vol.locator(f"#offers li[data-offer='{offer['offer_id']}']")
            expect(card).to_be_visible()
            if n == 0:
                self.shot(vol, "volunteer-offers")
            card.locator("button.ok").click()
            expect(card).to_have_count(0)
            crew.append(vol)
        self.until(
            "the order is scheduled",
            lambda: self.api(ENTERPRISE, "GET", f"/api/orders/{order_id}")["status"] == "scheduled",
        )

        # the enterprise shows the sign-in code on site
        self.visit(ent, "/app/enterprise#orders")
        mine = ent.locator(f"#orders li[data-order='{order_id}']")
        expect(mine).to_have_attribute("data-status", "scheduled")
        mine.locator("button.link").click()
        code = mine.locator(".code")
        expect(code).to_have_text(re.compile(r"^\d{6}$"))
        sign_in_code = code.inner_text()
        expect(mine.locator(".sign-in-qr svg")).to_be_visible()
        checkin = self.scan(mine.locator(".sign-in-qr"))
        assert checkin == f"{self.base}/app/volunteer?checkin={order_id}&code={sign_in_code}", checkin
        # the survey's QR code is there before the delivery, for the poster and the notice board
        expect(mine.locator(".survey-qr svg")).to_be_visible()
        early = self.scan(mine.locator(".survey-qr"))
        token = self.api(ENTERPRISE, "GET", f"/api/orders/{order_id}/survey")["token"]
        assert early == f"{self.base}/s/{token}", early
        with ent.expect_download() as got:
            mine.locator("button.poster").click()
        assert got.value.suggested_filename.startswith("海报_") and got.value.suggested_filename.endswith(".pdf")
        self.shot(ent, "enterprise-sign-in-code")

        # volunteers check in with it (a wrong code is refused) and check out
        for n, vol in enumerate(crew):
            self.visit(vol, "/app/volunteer#schedule")
            task = vol.locator(f"#schedule li[data-order='{order_id}']")
            expect(task).to_be_visible()
            if n == 0:
                task.locator("input[name=code]").fill("000000" if sign_in_code != "000000" else "111111")
                task.locator("button[type=submit]").click()
                expect(task.locator(".form-error")).to_contain_text("签到码不对")
            task.locator("input[name=code]").fill(sign_in_code)
            task.locator("button[type=submit]").click()
            expect(task).to_contain_text("已签到")
            if n == 0:
                self.shot(vol, "volunteer-schedule")
            task.locator("button.primary").click()
            expect(task).to_contain_text("已签退")

        # the dispatcher records the delivery and the people served
        self.visit(dsp, "/app/dispatcher#orders")
        mine = dsp.locator(f"#orders li[data-order='{order_id}']")
        mine.locator("button.link").click()
        mine.locator("button.ok", has_text="服务完成").click()
        dsp.fill("#edit-dialog input[name=people_served]", "118")
        dsp.click("#edit-dialog button[type=submit]")
        self.until(
            "the order is delivered",
            lambda: self.api(ENTERPRISE, "GET", f"/api/orders/{order_id}")["status"] == "delivered",
        )

        # the enterprise shows the survey's QR code to the workers
        self.visit(ent, "/app/enterprise#orders")
        mine = ent.locator(f"#orders li[data-order='{order_id}']")
        expect(mine).to_have_attribute("data-status", "delivered")
        self.until(
            "the survey is open",
            lambda: self.api(ENTERPRISE, "GET", f"/api/orders/{order_id}/survey")["status"] == "open",
        )
        mine.locator("button.link").click()
        expect(mine.locator(".survey-qr svg")).to_be_visible()
        link = self.scan(mine.locator(".survey-qr"))  # the workers' phones open what they read
        assert link == early == self.base + mine.locator("a[href^='/s/']").first.get_attribute("href"), link
        self.summary["survey_link"] = link
        self.shot(ent, "enterprise-survey-qr")

        # workers answer on their phones, no sign-in
        scores = [5, 4, 5]
        for n, score in enumerate(scores):
            ctx = browser.new_context(**PHONE)
            ctx.set_default_timeout(TIMEOUT_MS)
            aud = ctx.new_page()
            errors: list[str] = []
            aud.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
            aud.errors = errors
            pages.append(aud)
            aud.goto(link)
            aud.click(f"label:has(input[name=overall][value='{score}'])")
            aud.click("label:has(input[name=content][value='5'])")
            if n == 0:
                aud.fill("textarea[name=comment]", "老师写得真好，明年还想学。")
                aud.fill("input[name=wanted]", "剪纸，八段锦")
                self.shot(aud, "audience-survey")
            aud.click("#survey-form button[type=submit]")
            expect(aud.locator("#survey-done")).to_be_visible()
            if n == 0:
                self.shot(aud, "audience-thanks")
            ctx.close()
        self.until(
            "every answer is counted",
            lambda: self.api(ENTERPRISE, "GET", f"/api/orders/{order_id}/survey")["responses"] == len(scores),
        )

        # the dispatcher ends the survey; the enterprise sees the order closed with its satisfaction
        self.visit(dsp, "/app/dispatcher#orders")
        mine = dsp.locator(f"#orders li[data-order='{order_id}']")
        mine.locator("button.link").click()
        mine.locator("button", has_text="结束评议").click()
        self.until(
            "the order is closed",
            lambda: self.api(ENTERPRISE, "GET", f"/api/orders/{order_id}")["status"] == "closed",
        )
        self.visit(ent, "/app/enterprise#orders")
        mine = ent.locator(f"#orders li[data-order='{order_id}']")
        expect(mine).to_have_attribute("data-status", "closed")
        satisfaction = mine.locator(".satisfaction")
        expect(satisfaction).to_contain_text("满意度")
        self.summary["satisfaction_shown"] = satisfaction.inner_text()
        mine.locator("button.link").click()
        expect(mine.locator(".timeline li")).to_have_count(5)
        self.shot(ent, "enterprise-closed")

        # the calendar and the volunteer's hours
        self.visit(dsp, "/app/dispatcher#calendar")
        expect(dsp.locator("#week")).to_contain_text("书法进企业")
        self.shot(dsp, "dispatcher-calendar")
        vol = crew[0]
        self.visit(vol, "/app/volunteer#hours")
        expect(vol.locator("#hour-items li").first).to_contain_text("书法进企业")
        self.shot(vol, "volunteer-hours")

        # the bell: what the volunteer was told, read at once; a kind kept out of the inbox
        self.visit(vol, "/app/volunteer#hours")
        expect(vol.locator("#bell-count")).to_be_visible()
        vol.click("#bell")
        expect(vol.locator("#notif-list li.unread").first).to_be_visible()
        expect(vol.locator("#notif-list")).to_contain_text("书法进企业")
        self.shot(vol, "volunteer-notifications")
        vol.click("#notif-read-all")
        expect(vol.locator("#bell-count")).to_be_hidden()
        expect(vol.locator("#notif-list li.unread")).to_have_count(0)
        vol.click("#notif-settings-open")
        expect(vol.locator("#notif-settings")).to_be_visible()
        vol.fill("#notif-form input[name=email]", "not an email")
        vol.click("#notif-form button[type=submit]")
        expect(vol.locator("#notif-form [data-err=email]")).to_contain_text("邮箱地址格式不对")
        vol.fill("#notif-form input[name=email]", "")
        vol.locator("#notif-kinds input[data-kind=reminder][data-channel=inbox]").uncheck()
        vol.click("#notif-form button[type=submit]")
        expect(vol.locator("#notif-settings")).to_be_hidden()
        expect(vol.locator("#notif-panel")).to_be_hidden()
        vol.click("#bell")
        vol.click("#notif-settings-open")
        expect(vol.locator("#notif-kinds input[data-kind=reminder][data-channel=inbox]")).not_to_be_checked()
        expect(vol.locator("#notif-kinds input[data-kind=offer][data-channel=inbox]")).to_be_checked()
        vol.click("#notif-cancel")
        expect(vol.locator("#notif-settings")).to_be_hidden()

        # the statistics: the delivery, its people and its satisfaction are counted; Excel and PDF download
        self.visit(dsp, "/app/reports")
        expect(dsp.locator("#totals")).to_contain_text("118")
        expect(dsp.locator("#chart-months svg")).to_be_visible()
        self.shot(dsp, "dispatcher-reports")
        with dsp.expect_download() as got:
            dsp.click("#export")
        self.summary["export"] = got.value.suggested_filename
        assert self.summary["export"].endswith(".xlsx"), self.summary["export"]
        with dsp.expect_download() as got:
            dsp.click("#monthly")
        assert got.value.suggested_filename.endswith(".pdf")
        with vol.expect_download() as got:
            vol.click("#certificate")
        assert got.value.suggested_filename.endswith(".pdf")

        # a volunteer registers on a phone; the dispatcher approves; the volunteer signs in
        reg = browser.new_context(**PHONE)
        reg.set_default_timeout(TIMEOUT_MS)
        newcomer = reg.new_page()
        newcomer.errors = []
        newcomer.on("pageerror", lambda e: newcomer.errors.append(str(e)))
        pages.append(newcomer)
        newcomer.goto(self.base + "/register")
        newcomer.check("input[name=role][value=volunteer]")
        newcomer.fill("input[name='volunteer.name']", "陆晓梅")
        newcomer.fill("input[name='volunteer.phone']", "13957300000")
        newcomer.fill("input[name='volunteer.skills']", "书法，朗诵")
        newcomer.fill("input[name=union_card]", "ZJ3304810012")
        username = f"luxiaomei{int(time.time()) % 100000}"
        newcomer.fill("input[name=username]", username)
        newcomer.fill("input[name=password]", "short")
        # the privacy notice is agreed to, or the registration is refused beside the box
        newcomer.click("#register-form button[type=submit]")
        expect(newcomer.locator("#register-form [data-err=notice_version]")).to_contain_text("请阅读并同意隐私政策")
        newcomer.locator("#register-form .notice-text summary").click()
        expect(newcomer.locator("#notice-body")).to_contain_text("观众评议是匿名的")
        newcomer.check("input[name=notice_agree]")
        newcomer.click("#register-form button[type=submit]")
        expect(newcomer.locator("#register-form [data-err=password]")).not_to_be_empty()
        newcomer.fill("input[name=password]", "moxiang-2026")
        self.shot(newcomer, "register")
        newcomer.click("#register-form button[type=submit]")
        expect(newcomer.locator("#register-done")).to_be_visible()
        self.visit(dsp, "/app/dispatcher#registrations")
        pending = dsp.locator(f"#registrations li[data-username='{username}']")
        expect(pending).to_contain_text("ZJ3304810012")
        self.shot(dsp, "dispatcher-registrations")
        pending.locator("button.ok").click()
        expect(pending).to_have_count(0)
        joined = self.login(browser, username, PHONE, "moxiang-2026")
        pages.append(joined)
        expect(joined.locator("#who-name")).to_have_text("陆晓梅")
        self.visit(dsp, "/app/dispatcher#resources")
        expect(dsp.locator("#volunteers")).to_contain_text("陆晓梅")
        self.shot(dsp, "dispatcher-resources")

        # the alliance (队伍联用): Qingdao's shared art troupe is seen from Haining, skills counted
        self.visit(dsp, "/app/dispatcher#alliance")
        shared = dsp.locator("#shared-troupes tr[data-troupe='qingdao-art']")
        expect(shared).to_contain_text("青岛市工人文化宫")
        expect(shared).to_contain_text("声乐×")
        expect(dsp.locator("#alliance-members")).to_contain_text("海宁市工人文化宫")
        expect(dsp.locator("#own-troupes")).to_contain_text("向联盟共享")
        self.shot(dsp, "dispatcher-alliance")

        # English, switched from the header
        ent.click("header .langs a[href^='/lang/en']")
        expect(ent.locator("html")).to_have_attribute("lang", "en")
        expect(ent.locator("[data-tab=orders]")).to_have_text("My orders")
        self.shot(ent, "enterprise-closed-en")

        for page in pages:
            assert not page.errors, f"script errors on {page.url}: {page.errors}"


def main(argv=None, walk: type[Journey] = Journey, doc: str | None = None) -> int:
    """The command line of a browser walk: its summary as the last line printed."""
    parser = argparse.ArgumentParser(description=(doc or __doc__).splitlines()[0])
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--password", default=os.environ.get("DEMO_PASSWORD", "songwenhua-demo"))
    parser.add_argument("--screens", default=None, help="keep a screenshot of each main screen here")
    args = parser.parse_args(argv)
    summary = walk(args.base, args.password, args.screens).run()
    print(json.dumps(summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
