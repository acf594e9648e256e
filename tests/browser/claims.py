"""A volunteer's account from invitation to a changed password, in headless Chromium: the dispatcher
adds a volunteer, sees 已邀请 in the volunteer list and sends the code again (shown once, with the
link to copy); the volunteer opens the link on a 360-px phone, a wrong phone digit is refused in
Chinese, the claim signs them in; the name in the header opens 修改密码, a wrong old password and a
weak new one are refused beside their fields, the change signs them out; signed in again, 退出所有设备
ends it; the dispatcher finds the account and makes a reset link with its copy button.

Run as a program (it needs a running system with the demo data):
    python -m tests.browser.claims --base http://127.0.0.1:8000 [--screens var/screens]
It prints a JSON summary and exits non-zero at the first step that does not happen.
"""

from __future__ import annotations

import random
import re
import sys
import uuid

import requests
from playwright.sync_api import expect

from tests.browser import journey
from tests.browser.journey import DESKTOP, DISPATCHER, PALACE, PHONE, Journey

NARROW = {**PHONE, "viewport": {"width": 360, "height": 740}}
FIRST = "claim-walk-password"
SECOND = "changed-walk-password"


class Claims(Journey):
    def run(self):
        return self.in_browser(self._walk)

    def fits(self, page, what: str) -> int:
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"{what} scrolls sideways on a 360-px phone: {width} px"
        self.summary.setdefault("phone_widths", {})[what] = width
        return width

    def _walk(self, browser):
        pages = self.pages = []
        vid = f"walk-{uuid.uuid4().hex[:6]}"
        phone_number = f"139{random.randrange(10**8):08d}"
        username = f"v{uuid.uuid4().hex[:6]}"
        volunteer = {"name": "周婷", "phone": phone_number, "skills": ["声乐"], "district": "海宁", "palace_id": PALACE}
        self.api(DISPATCHER, "PUT", f"/api/volunteers/{vid}", volunteer)

        # the dispatcher: the volunteer list says who claimed; a code sent again is shown once
        desk = self.login(browser, DISPATCHER, DESKTOP)
        pages.append(desk)
        desk.click("[data-tab=resources]")
        row = desk.locator(f"#volunteers tr[data-volunteer='{vid}']")
        expect(row).to_contain_text("已邀请")
        row.get_by_role("button", name="重发邀请").click()
        dialog = desk.locator("#secret-dialog")
        expect(dialog).to_be_visible()
        code = desk.locator("#secret-code").inner_text().strip()
        link = desk.locator("#secret-link").input_value()
        assert re.fullmatch(r"[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}", code), code
        assert link.endswith("/claim?code=" + code.replace("-", "")), link
        self.shot(desk, "dispatcher-invitation")
        dialog.get_by_role("button", name="关闭").click()

        # the volunteer, on a cheap phone: the link, the phone's last digits, a name and a password
        phone = browser.new_context(**NARROW).new_page()
        phone.errors = []
        phone.on("pageerror", lambda e: phone.errors.append(str(e)))
        pages.append(phone)
        phone.goto(link)
        expect(phone.locator("input[name=code]")).to_have_value(code)
        form = phone.locator("#claim-form")
        phone.fill("input[name=phone_last4]", "0000" if not phone_number.endswith("0000") else "1111")
        phone.fill("input[name=username]", username)
        phone.fill("input[name=password]", FIRST)
        phone.fill("input[name=again]", FIRST)
        phone.click("#claim-form button[type=submit]")
        expect(form.locator(".form-error")).to_contain_text("邀请码或手机号后四位不对")
        self.fits(phone, "claim")
        self.shot(phone, "claim-phone-refused")
        phone.fill("input[name=phone_last4]", phone_number[-4:])
        phone.click("#claim-form button[type=submit]")
        phone.wait_for_url(re.compile(r"/app/volunteer"))
        phone.wait_for_selector("body[data-ready]", state="attached")
        expect(phone.locator("#who-name")).to_have_text("周婷")

        # 修改密码 from the header: the errors beside their fields, then signed out
        phone.click("#who-name")
        account = phone.locator("#account-dialog")
        expect(account).to_be_visible()
        phone.fill("#password-form input[name=old_password]", "not-my-password")
        phone.fill("#password-form input[name=new_password]", SECOND)
        phone.fill("#password-form input[name=again]", SECOND)
        phone.click("#password-form button[type=submit]")
        expect(account.locator("[data-err=old_password]")).to_have_text("原密码不对。")
        phone.fill("#password-form input[name=old_password]", FIRST)
        phone.fill("#password-form input[name=new_password]", "1234567890")
        phone.fill("#password-form input[name=again]", "1234567890")
        phone.click("#password-form button[type=submit]")
        expect(account.locator("[data-err=new_password]")).to_have_text("这个密码太常见，很容易被猜到，请换一个。")
        self.fits(phone, "password")
        self.shot(phone, "password-phone-refused")
        phone.fill("#password-form input[name=new_password]", SECOND)
        phone.fill("#password-form input[name=again]", SECOND)
        phone.click("#password-form button[type=submit]")
        phone.wait_for_url(re.compile(r"/login"))
        assert self.sign_in(username, FIRST) == 401 and self.sign_in(username, SECOND) == 200

        # signed in again: 退出所有设备 ends this session and the others
        elsewhere = self.token(username, SECOND)
        phone.fill("input[name=username]", username)
        phone.fill("input[name=password]", SECOND)
        phone.click("#login-form button[type=submit]")
        phone.wait_for_url(re.compile(r"/app/volunteer"))
        phone.wait_for_selector("body[data-ready]", state="attached")
        # 注销账号 from the header: asked (the phone's confirm accepted), shown with its date, cancelled
        phone.once("dialog", lambda d: d.accept())
        phone.click("#who-name")
        phone.click("#erasure-ask")
        expect(phone.locator("#erasure-state")).to_contain_text("您已申请注销账号，将于")
        expect(phone.locator("#erasure-cancel")).to_be_visible()
        self.fits(phone, "erasure")
        self.shot(phone, "erasure-phone-asked")
        phone.click("#erasure-cancel")
        phone.wait_for_selector("body[data-ready]", state="attached")
        phone.click("#who-name")
        expect(phone.locator("#erasure-ask")).to_be_visible()
        phone.get_by_role("button", name="退出所有设备").last.click()
        phone.wait_for_url(re.compile(r"/login"))
        self.until("the other session ended", lambda: self.me(elsewhere) == 401)

        # the dispatcher finds the account and makes a one-time reset link to hand over
        desk.click("[data-tab=registrations]")
        desk.fill("#account-search input[name=q]", username)
        desk.click("#account-search button[type=submit]")
        found = desk.locator(f"#accounts li[data-username='{username}']")
        expect(found).to_contain_text("周婷")
        found.get_by_role("button", name="重置密码").click()
        expect(desk.locator("#secret-link")).to_have_value(re.compile(r"/reset\?token="))
        expect(desk.locator("#secret-dialog").get_by_role("button", name="复制")).to_be_visible()
        self.shot(desk, "dispatcher-reset-link")
        desk.locator("#secret-dialog [data-close]").click()

        # the person asked at the desk to close the account: recorded, listed with its date, cancelled
        desk.once("dialog", lambda d: d.accept())
        found.get_by_role("button", name="登记注销申请").click()
        recorded = desk.locator(f"#erasures li[data-username='{username}']")
        expect(recorded).to_contain_text("执行")
        self.shot(desk, "dispatcher-erasure-recorded")
        recorded.get_by_role("button", name="撤销").click()
        expect(desk.locator("#erasures")).to_contain_text("没有待执行的注销申请。")
        self.summary.update(volunteer_id=vid, username=username, password=SECOND)

        for page in pages:
            assert not page.errors, f"script errors on {page.url}: {page.errors}"

    def sign_in(self, username: str, password: str) -> int:
        body = {"username": username, "password": password}
        return requests.post(self.base + "/api/login", json=body, timeout=10).status_code

    def token(self, username: str, password: str) -> str:
        body = {"username": username, "password": password}
        return requests.post(self.base + "/api/login", json=body, timeout=10).json()["token"]

    def me(self, token: str) -> int:
        return requests.get(self.base + "/api/me", headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code


if __name__ == "__main__":
    sys.exit(journey.main(walk=Claims, doc=__doc__))
