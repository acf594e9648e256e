"""The poster of a scheduled delivery, read the way a phone reads it: fetched over HTTP from the
whole system, rendered to pixels (pdftoppm, 150 dpi) and both QR codes decoded (zbarimg); the
survey link they lead to answers, and says when it opens."""

import datetime as dt
import os
import subprocess
import tempfile
from urllib.parse import unquote

import pytest
import requests

from tests.e2e.test_order_journey import seed, signed_in
from tests.helpers import wait_until

pytestmark = pytest.mark.e2e


def decode(png: str) -> list[str]:
    run = subprocess.run(["zbarimg", "--raw", "-q", png], capture_output=True, text=True, timeout=60)
    return run.stdout.split()


def test_the_poster_of_a_scheduled_order_scans_to_its_survey_and_its_check_in(system):
    base, config, _ = system
    windows = seed(config)
    union = signed_in(base, "jingbian")
    http = signed_in(base, "dispatcher")
    order = {
        "program_id": "song",
        "site_address": "经编园区 3 号厂房",
        "district": "海宁",
        "audience_size": 300,
        "windows": windows,
        "contact_name": "王芳",
        "contact_phone": "0573-87000000",
    }
    oid = union.post(f"{base}/api/orders", json=order).json()["order_id"]
    early = union.get(f"{base}/api/orders/{oid}/poster.pdf")
    assert early.status_code == 409 and early.json()["code"] == "NOT_SCHEDULED" and "排定" in early.json()["message"]
    assert http.post(f"{base}/api/orders/{oid}/accept", json={}).status_code == 200

    def answer_offers():
        plan = http.get(f"{base}/api/orders/{oid}/plan")
        if plan.status_code == 200:
            for o in plan.json()["offers"]:
                if o["status"] == "pending":
                    signed_in(base, o["volunteer_id"]).post(f"{base}/api/offers/{o['offer_id']}/accept", json={})
        return http.get(f"{base}/api/orders/{oid}").json()["status"] == "scheduled"

    wait_until(answer_offers, what="scheduled", timeout=60, interval=0.5)
    poster = wait_until(
        lambda: (r := union.get(f"{base}/api/orders/{oid}/poster.pdf")).status_code == 200 and r, what="the poster"
    )
    assert poster.headers["Content-Type"] == "application/pdf" and poster.content.startswith(b"%PDF")
    filename = unquote(poster.headers["Content-Disposition"].split("UTF-8''")[1])
    assert filename.startswith("海报_劳动者之歌") and filename.endswith(".pdf")
    assert http.get(f"{base}/api/orders/{oid}/poster.pdf").status_code == 200  # the palace's dispatcher too

    survey = union.get(f"{base}/api/orders/{oid}/survey").json()
    assert survey["status"] == "scheduled"
    plan = http.get(f"{base}/api/orders/{oid}/plan").json()
    code = plan["sign_in_code"]
    with tempfile.TemporaryDirectory() as tmp:
        pdf = os.path.join(tmp, "poster.pdf")
        with open(pdf, "wb") as f:
            f.write(poster.content)
        subprocess.run(["pdftoppm", "-r", "150", "-png", pdf, os.path.join(tmp, "page")], check=True, timeout=60)
        pages = sorted(n for n in os.listdir(tmp) if n.endswith(".png"))
        assert len(pages) == 2
        first, second = (decode(os.path.join(tmp, n)) for n in pages)
        text = subprocess.run(["pdftotext", pdf, "-"], capture_output=True, text=True, check=True).stdout
    assert first == [f"{base}/s/{survey['token']}"]
    assert second == [f"{base}/app/volunteer?checkin={oid}&code={code}"]
    assert "劳动者之歌 文艺演出" in text and "海宁市工人文化宫" in text and code in text.replace(" ", "")
    assert first[0] in text  # the link is written out for those who cannot scan

    # the decoded survey link opens, and says in plain words when the survey opens
    page = requests.get(first[0], timeout=10)
    start = dt.datetime.fromisoformat(plan["start"]).astimezone(dt.timezone(dt.timedelta(hours=8)))
    assert page.status_code == 200
    assert f"这次服务在 {start.month} 月 {start.day} 日 {start:%H:%M} 开始，服务结束后即可在这里评议。" in page.text
    public = requests.get(f"{base}/api/surveys/{survey['token']}", timeout=10).json()
    assert public["status"] == "scheduled" and dt.datetime.fromisoformat(public["starts_at"]) == start
    refused = requests.post(f"{base}/api/surveys/{survey['token']}/responses", json={"overall": 5}, timeout=10)
    assert refused.status_code == 409 and refused.json()["code"] == "SURVEY_NOT_OPEN"
    assert "还没有开始" in refused.json()["message"]
    volunteer = requests.get(second[0], timeout=10)  # the check-in link opens the volunteer's screen
    assert volunteer.status_code == 200
