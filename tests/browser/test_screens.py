"""The screens in a real browser (Debian's chromium, driven by Playwright) against the whole system
started as `make run` starts it, with the demo data. The path itself is tests/browser/journey.py,
run in its own process; what it leaves behind is then checked here over the API."""

import json
import os
import subprocess
import sys
import uuid

import pytest
import requests

from tests.browser.journey import CHROMIUM
from tests.servers import ROOT, forget_databases, running_system

pytestmark = pytest.mark.timeout(600)
PASSWORD = "songwenhua-demo"


def login(base: str, username: str) -> dict:
    r = requests.post(base + "/api/login", json={"username": username, "password": PASSWORD}, timeout=10)
    assert r.status_code == 200, r.text
    return {"Authorization": "Bearer " + r.json()["token"]}


def walk(program: str, base: str, *extra: str, timeout: float = 400) -> dict:
    """Run a browser walk (tests/browser/<program>.py) in its own process; its JSON summary.
    A walk that fails shows the lines it printed as FAIL first, then its last output."""
    run = subprocess.run(
        [sys.executable, "-m", f"tests.browser.{program}", "--base", base, "--password", PASSWORD, *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    failures = [line for line in run.stdout.splitlines() if line.startswith("FAIL")]
    assert run.returncode == 0, "\n".join(failures[:60]) or (run.stdout[-3000:] + run.stderr[-6000:])
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def ui_system(request, vhost_pipeline, mongo_uri):
    from urllib.parse import urlparse

    assert os.path.exists(CHROMIUM), f"{CHROMIUM} is missing: run scripts/ensure_chromium.sh (make test does)"
    uri = urlparse(request.config.getoption("RABBIT_AMQP_URI"))
    prefix = f"u{uuid.uuid4().hex[:8]}_"
    with vhost_pipeline.get() as vhost:
        amqp_uri = f"{uri.scheme}://{uri.netloc}/{vhost}"
        with running_system(amqp_uri, mongo_uri, prefix, NO_DEMO_DATA="0", DEMO_PASSWORD=PASSWORD) as base:
            # `make demo` right after `make run`: the system answers health checks before the demo
            # data is in, and the demo waits for it, saying so, instead of failing to sign in
            ready = subprocess.run(
                [sys.executable, "scripts/demo.py", "--ready"],
                cwd=ROOT,
                env={**os.environ, "BASE_URL": base, "DEMO_PASSWORD": PASSWORD, "DEMO_WAIT_SECONDS": "180"},
                capture_output=True,
                text=True,
                timeout=240,
            )
            assert ready.returncode == 0, ready.stdout + ready.stderr
            assert ready.stdout.strip().splitlines()[-1] == f"the system at {base} is ready", ready.stdout
            yield base
    forget_databases(mongo_uri, prefix)


def test_each_role_main_path_in_a_browser(ui_system):
    base = ui_system
    summary = walk("journey", base)

    # what the screens did is what the system holds
    enterprise = login(base, "haining-jingbian")
    order = requests.get(f"{base}/api/orders/{summary['order_id']}", headers=enterprise, timeout=10).json()
    assert order["status"] == "closed"
    assert order["people_served"] == 118
    assert order["responses"] == 3
    assert order["satisfaction"] == pytest.approx((5 + 4 + 5) / 3, abs=0.01)
    assert f"{order['satisfaction']:.2f}" in summary["satisfaction_shown"]
    assert [h["status"] for h in order["history"]] == ["submitted", "accepted", "scheduled", "delivered", "closed"]

    dispatcher = login(base, "dispatcher-haining")
    plan = requests.get(f"{base}/api/orders/{summary['order_id']}/plan", headers=dispatcher, timeout=10).json()
    crew = [o for o in plan["offers"] if o["status"] == "accepted"]
    assert len(crew) == 2
    checked = {a["volunteer_id"]: a for a in plan["attendance"]}
    for offer in crew:
        assert checked[offer["volunteer_id"]]["checked_in_at"] and checked[offer["volunteer_id"]]["checked_out_at"]
    volunteer = login(base, crew[0]["volunteer_id"])
    hours = requests.get(f"{base}/api/volunteers/{crew[0]['volunteer_id']}/hours", headers=volunteer, timeout=10).json()
    assert hours["deliveries"] == 1 and hours["items"][0]["order_id"] == summary["order_id"]


def test_pages_and_errors_speak_the_readers_language(ui_system):
    base = ui_system
    zh = requests.get(base + "/login", timeout=10)
    en = requests.get(base + "/login", headers={"Accept-Language": "en-GB,en;q=0.9"}, timeout=10)
    assert zh.status_code == en.status_code == 200
    assert '<html lang="zh-CN">' in zh.text and ">用户名<" in zh.text
    assert '<html lang="en">' in en.text and "<h1>Log in</h1>" in en.text and ">User name<" in en.text
    assert "<h1>登录</h1>" in zh.text and "<h1>登录</h1>" not in en.text
    cookie = requests.get(base + "/login", cookies={"lang": "en"}, timeout=10)
    assert "<h1>Log in</h1>" in cookie.text

    enterprise = login(base, "haining-jingbian")
    bad = {
        "program_id": "haining-song",
        "site_address": "",
        "district": "海宁",
        "audience_size": 0,
        "windows": [],
        "contact_name": "沈敏",
        "contact_phone": "call me",
    }
    r_zh = requests.post(base + "/api/orders", json=bad, headers=enterprise, timeout=10)
    r_en = requests.post(base + "/api/orders", json=bad, headers={**enterprise, "Accept-Language": "en"}, timeout=10)
    assert r_zh.status_code == r_en.status_code == 400
    assert r_zh.json()["fields"]["contact_phone"] == ["电话号码格式不对。"]
    assert r_en.json()["code"] == r_zh.json()["code"]
    assert set(r_en.json()["fields"]) == set(r_zh.json()["fields"])
    for field, messages in r_en.json()["fields"].items():
        for message in messages:
            assert not any("\u4e00" <= ch <= "\u9fff" for ch in message), (field, message)
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in r_en.json()["message"])

    # nothing is fetched from elsewhere: every script and style is served here
    for page in ("/login", "/register", "/app/enterprise", "/app/dispatcher", "/app/volunteer"):
        html = requests.get(base + page, timeout=10).text
        assert "http://" not in html and "https://" not in html, page
    assert requests.get(base + "/static/app.js", timeout=10).status_code == 200
    missing = requests.get(base + "/static/nothing.js", timeout=10)
    assert missing.status_code == 404 and missing.json()["code"] == "NOT_FOUND"
    escape = requests.get(base + "/static/../service.py", timeout=10)
    assert escape.status_code == 404


def test_the_day_of_a_delivery_in_a_browser(ui_system):
    """tests/browser/day.py: check-in opening shown days ahead, the 服务完成 dialog with nobody
    checked in, a check-out right after check-in explained on both screens."""
    base = ui_system
    screens = os.path.join(ROOT, "var", "log", "browser", "day")
    summary = walk("day", base, "--screens", screens)

    # what the screens showed is what the API says
    volunteer = login(base, summary["future_volunteer"])
    (offer,) = [
        o
        for o in requests.get(
            f"{base}/api/volunteers/{summary['future_volunteer']}/offers?status=accepted", headers=volunteer, timeout=10
        ).json()
        if o["order_id"] == summary["future_order"]
    ]
    early = requests.post(
        f"{base}/api/orders/{summary['future_order']}/check-in", json={}, headers=volunteer, timeout=10
    )
    assert early.status_code == 409 and early.json()["code"] == "CHECK_IN_NOT_OPEN"
    assert early.json()["message"].startswith("签到将于 ") and offer["check_in_opens_at"]

    dispatcher = login(base, "dispatcher-haining")
    plan = requests.get(f"{base}/api/orders/{summary['today_order']}/plan", headers=dispatcher, timeout=10).json()
    assert plan["status"] == "delivered"
    (row,) = plan["hours"]
    assert (row["volunteer_id"], row["hours"], row["hours_reason"]) == (summary["today_volunteer"], 0.0, "short")
    near = login(base, summary["today_volunteer"])
    hours = requests.get(f"{base}/api/volunteers/{summary['today_volunteer']}/hours", headers=near, timeout=10).json()
    item = next(i for i in hours["items"] if i["order_id"] == summary["today_order"])
    assert (item["hours"], item["hours_reason"], item["hours_reason_text"]) == (0.0, "short", "出勤不足 50%，未计时长")


def test_phone_screens_fit_and_open_details_follow(ui_system):
    """Every page and tab of every role at 360×740 and 390×844 (tests/browser/phones.py): no sideways
    scrolling, touch targets at least 44 px high, one header row; open details refresh by themselves."""
    summary = walk("phones", ui_system, timeout=500)
    assert summary["failures"] == 0
    assert {p["page"].split(" ", 1)[1] for p in summary["pages"]} >= {
        "login",
        "register",
        "survey",
        "enterprise-orders",
        "enterprise-details",
        "dispatcher-details",
        "reports",
        "volunteer-schedule",
        "volunteer-notifications",
        "admin-retention",
        "admin-privacy",
    }
    assert all(p["scrollWidth"] <= int(p["page"].split(" ", 1)[0]) for p in summary["pages"])
    assert set(summary["followed"]) == {"dispatcher_check_in_s", "enterprise_responses_s"}


def test_the_order_rules_as_a_clerk_meets_them_and_an_urgent_order_by_the_palace(ui_system):
    """tests/browser/orders.py; ORDER_SCREENS=<folder> keeps its screenshots (desktop and phone)."""
    base = ui_system
    screens = ["--screens", os.environ["ORDER_SCREENS"]] if os.environ.get("ORDER_SCREENS") else []
    summary = walk("orders", base, *screens, timeout=300)

    # the mistakes placed nothing; the dispatcher's urgent order is the one more the union has
    enterprise = login(base, "haining-jingbian")
    page = requests.get(f"{base}/api/orders?per_page=1", headers=enterprise, timeout=10).json()
    assert page["total"] == summary["orders_before"] + 1
    order = requests.get(f"{base}/api/orders/{summary['order_id']}", headers=enterprise, timeout=10).json()
    assert order["urgent"] is True and order["status"] == "submitted"
    assert order["placed_by"] == {"username": "dispatcher-haining", "role": "dispatcher"}
    assert len(order["windows"]) == 1 and order["note"] == "企业临时来电，明天上午职工大会后。"
    # leave the palace's inbox as the demo had it
    r = requests.post(f"{base}/api/orders/{order['order_id']}/cancel", json={}, headers=enterprise, timeout=10)
    assert r.status_code == 200, r.text


def test_the_dispatchers_import_panel_previews_confirms_and_fits_a_phone(ui_system):
    """tests/browser/imports.py: a workbook of programs previewed, confirmed, then the same file
    again on a 360-px phone, every row unchanged, without sideways scrolling."""
    base = ui_system
    summary = walk("imports", base, "--screens", os.path.join(ROOT, "var", "log", "browser", "imports"), timeout=300)
    assert summary["phone_scroll_width"] <= 360 and summary["audit_phone_scroll_width"] <= 360
    dispatcher = login(base, "dispatcher-haining")
    programs = requests.get(f"{base}/api/programs?palace_id=haining", headers=dispatcher, timeout=10).json()
    (program,) = [p for p in programs if p["title"] == summary["program"]]
    assert program["needs"] == [{"skill": "声乐", "count": 2}] and program["kind"] == "performance"


def test_a_volunteer_claims_an_account_on_a_phone_and_changes_the_password(ui_system):
    """tests/browser/claims.py: an invitation sent again from the volunteer list, claimed on a
    360-px phone, the password changed and every session ended from the header, a reset link."""
    base = ui_system
    summary = walk("claims", base, "--screens", os.path.join(ROOT, "var", "log", "browser", "claims"), timeout=300)
    assert all(width <= 360 for width in summary["phone_widths"].values()), summary["phone_widths"]
    dispatcher = login(base, "dispatcher-haining")
    states = requests.get(f"{base}/api/palaces/haining/invitations", headers=dispatcher, timeout=10).json()
    (state,) = [s for s in states if s["volunteer_id"] == summary["volunteer_id"]]
    assert state == {**state, "status": "claimed", "username": summary["username"]}
