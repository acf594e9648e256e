"""notifications against the real broker and database, a real SMTP server (aiosmtpd, in its own
process, keeping mail in a Maildir) and a real HTTP server taking the signed webhook: events in,
inbox rows, emails and webhook calls out; a failing channel retried then kept as failed;
redelivery changes nothing; reminders fire when due; muting is respected."""

import contextlib
import datetime as dt
import email.header
import hmac
import json
import mailbox
import os
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from nameko.rpc import rpc
from nameko.standalone.rpc import ClusterRpcProxy

from common.errors import NotFound
from scripts.service import TARGETS
from services.accounts.service import AccountsService
from services.notifications.channels import Email, signature
from services.notifications.service import NotificationsService
from tests.helpers import BusSpy, publish_event, wait_until
from tests.servers import ROOT, free_port

CST = dt.timezone(dt.timedelta(hours=8))
SECRET = "webhook-test-secret"
PASSWORD = "notify-password"


@contextlib.contextmanager
def smtp_process(*tls: str):
    """A real SMTP server (aiosmtpd) on a free port; what it receives lands in a Maildir."""
    port = free_port()
    folder = tempfile.mkdtemp(prefix="smtp-test-")
    maildir = os.path.join(folder, "mail")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            f"127.0.0.1:{port}",
            *tls,
            "-c",
            "aiosmtpd.handlers.Mailbox",
            maildir,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def listening():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            return False

    try:
        wait_until(listening, timeout=20, what="the SMTP server")
        yield port, lambda: list(mailbox.Maildir(maildir)) if os.path.isdir(maildir) else []
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def smtp_server():
    with smtp_process() as server:
        yield server


@pytest.fixture
def webhook_server():
    """A real HTTP server: records each call; answers 500 to calls for `failing` recipients."""
    calls: list[dict] = []
    failing = {"ent1"}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            calls.append({"headers": dict(self.headers), "raw": raw, "body": json.loads(raw)})
            status = 500 if json.loads(raw)["to"] in failing else 200
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", calls
    server.shutdown()
    server.server_close()


class Orders:
    """The orders service as far as notifications asks it: an order no snapshot event told of."""

    name = "orders"

    @rpc(expected_exceptions=NotFound)
    def get_order(self, order_id):
        if order_id.startswith("unknown"):
            raise NotFound("找不到这个订单。", "ORDER_NOT_FOUND")
        return {**snapshot(order_id), "program_title": "职工合唱"}


@pytest.fixture
def system(container_factory, service_config, smtp_server, webhook_server):
    smtp_port, mails = smtp_server
    url, calls = webhook_server
    config = {
        **service_config,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_port),
        "SMTP_FROM": "海宁市工人文化宫 <notice@songwenhua.local>",
        "WEBHOOK_URL": url,
        "WEBHOOK_SECRET": SECRET,
        "NOTIFY_RETRY_SECONDS": "0.2",
        "NOTIFY_MAX_ATTEMPTS": "3",
    }
    for cls in (AccountsService, NotificationsService, Orders):
        container_factory(cls, config).start()
    spy = BusSpy(config, sources=("notifications",))
    with ClusterRpcProxy(config, timeout=30) as rpc:
        users = [
            {"username": "vol1", "role": "volunteer", "palace_id": "p1", "volunteer_id": "v1", "display_name": "李明"},
            {"username": "vol7", "role": "volunteer", "palace_id": "p1", "volunteer_id": "v7"},
            {"username": "ent1", "role": "enterprise", "palace_id": "p1", "enterprise_id": "e1"},
            {"username": "disp1", "role": "dispatcher", "palace_id": "p1"},
            {"username": "disp2", "role": "dispatcher", "palace_id": "p2"},
        ]
        for user in users:
            rpc.accounts.create_user({**user, "password": PASSWORD})
        principals = {u["username"]: {**u, "display_name": u.get("display_name")} for u in users}
        prefs = {
            "vol1": {"email": "li.ming@example.cn", "webhook": True, "phone": "13900001111"},
            "ent1": {"webhook": True},
            "disp1": {"email": "disp1@example.cn", "mutes": [{"kind": "declined"}]},
        }
        for username, pref in prefs.items():
            rpc.notifications.set_preferences(principals[username], pref)
        yield rpc, config, mails, calls, spy
    spy.close()


def snapshot(order_id, **over):
    start = dt.datetime.now(CST) + dt.timedelta(days=5)
    return {
        "order_id": order_id,
        "palace_id": "p1",
        "enterprise_id": "e1",
        "program_id": "song",
        "program_title": "劳动者之歌",
        "site_address": "经编园区 3 号厂房",
        "district": "海宁",
        "audience_size": 200,
        "windows": [{"start": start.isoformat(), "end": (start + dt.timedelta(hours=2)).isoformat()}],
        **over,
    }


def offer(order_id, offer_id, start, volunteer_id="v1", **over):
    return {
        "offer_id": offer_id,
        "order_id": order_id,
        "palace_id": "p1",
        "volunteer_id": volunteer_id,
        "skill": "声乐",
        "start": start.isoformat(),
        "end": (start + dt.timedelta(hours=2)).isoformat(),
        "deadline": (dt.datetime.now(CST) + dt.timedelta(hours=24)).isoformat(),
        "rank": 1,
        **over,
    }


def inbox(rpc, username):
    return rpc.notifications.inbox(username)


def subject(message) -> str:
    return str(email.header.make_header(email.header.decode_header(message["Subject"])))


def test_an_offer_reaches_the_volunteer_in_the_inbox_by_email_and_by_signed_webhook_once(system):
    rpc, config, mails, calls, spy = system
    publish_event(config, "orders", "order_accepted", **snapshot("o1"))
    start = dt.datetime.now(CST) + dt.timedelta(days=5)
    sent = publish_event(config, "dispatch", "offer_made", **offer("o1", "f1", start))
    mine = wait_until(lambda: inbox(rpc, "vol1")["items"], what="the offer in the inbox")
    assert len(mine) == 1 and mine[0]["kind"] == "offer" and mine[0]["title"] == "新的服务邀约"
    assert "劳动者之歌" in mine[0]["body"] and "经编园区 3 号厂房" in mine[0]["body"]
    assert inbox(rpc, "vol1")["unread"] == 1

    mail = wait_until(mails, what="the email")[0]
    assert subject(mail) == "【工人文化宫】新的服务邀约"
    assert mail["To"] == "li.ming@example.cn"
    assert "notice@songwenhua.local" in mail["From"]
    text = mail.get_payload(decode=True).decode(mail.get_content_charset())
    assert "劳动者之歌" in text and "/app/volunteer#offers" in text

    call = wait_until(lambda: [c for c in calls if c["body"]["username"] == "vol1"], what="the webhook")[0]
    headers = {k.lower(): v for k, v in call["headers"].items()}
    expected = signature(SECRET, headers["x-songwenhua-timestamp"], call["raw"])
    assert hmac.compare_digest(headers["x-songwenhua-signature"], expected)
    assert signature("another-secret", headers["x-songwenhua-timestamp"], call["raw"]) != expected
    assert call["body"]["to"] == "13900001111" and call["body"]["title"] == "新的服务邀约"

    created = [e for e in spy.wait_for("notifications", "notification_created", 2) if e["username"] == "vol1"]
    assert created[0]["cause"] == sent["event_id"] and created[0]["kind"] == "offer"
    assert set(created[0]["channels"]) == {"inbox", "email", "webhook"}

    # the same event again (a redelivery): nothing new anywhere
    publish_event(config, "dispatch", "offer_made", raw=sent)
    publish_event(config, "dispatch", "offer_made", **offer("o1", "f2", start, volunteer_id="v9"))
    time.sleep(1.5)
    assert len(inbox(rpc, "vol1")["items"]) == 1
    assert len(mails()) == 1 and len([c for c in calls if c["body"]["username"] == "vol1"]) == 1

    # read: the count goes down; another person's notification cannot be read by them
    rpc.notifications.mark_read("vol1", mine[0]["notification_id"])
    assert inbox(rpc, "vol1")["unread"] == 0
    with pytest.raises(Exception) as err:
        rpc.notifications.mark_read("ent1", mine[0]["notification_id"])
    assert "NOTIFICATION_NOT_FOUND" in str(err.value) or "找不到" in str(err.value)


def test_a_failing_webhook_is_retried_then_kept_as_failed_with_the_reason(system):
    rpc, config, mails, calls, spy = system
    publish_event(config, "orders", "order_accepted", **snapshot("o2"))
    got = wait_until(lambda: inbox(rpc, "ent1")["items"], what="the enterprise's notification")[0]
    assert got["kind"] == "order_status" and got["title"] == "订单已受理"

    def given_up():
        rows = rpc.notifications.deliveries(got["notification_id"])
        return rows and rows[0]["status"] == "failed" and rows

    rows = wait_until(given_up, timeout=20, what="the webhook given up")
    assert rows[0]["channel"] == "webhook" and rows[0]["attempts"] == 3
    assert "HTTP 500" in rows[0]["last_error"]
    assert len([c for c in calls if c["body"]["to"] == "ent1"]) == 3
    # the dispatchers of another palace hear nothing of it
    assert inbox(rpc, "disp2")["items"] == []


def test_a_muted_kind_arrives_read_and_is_not_sent_while_other_kinds_are(system):
    rpc, config, mails, calls, spy = system
    publish_event(config, "orders", "order_accepted", **snapshot("o3"))
    start = dt.datetime.now(CST) + dt.timedelta(days=5)
    base = {k: v for k, v in offer("o3", "f3", start).items() if k not in ("start", "end", "deadline", "rank")}
    publish_event(config, "dispatch", "offer_declined", reason="那天要加班", **base)
    declined = wait_until(lambda: inbox(rpc, "disp1")["items"], what="the decline")[0]
    assert declined["kind"] == "declined" and declined["muted"] and declined["read"]
    assert "李明" in declined["body"] and "那天要加班" in declined["body"]
    assert inbox(rpc, "disp1")["unread"] == 0

    publish_event(
        config,
        "dispatch",
        "volunteer_no_show",
        no_show_id="n1",
        reason="生病",
        **{k: base[k] for k in base if k != "offer_id"},
    )
    wait_until(lambda: [m for m in mails() if m["To"] == "disp1@example.cn"], what="the no-show email")
    assert [m for m in mails() if subject(m) == "【工人文化宫】志愿者缺席"]
    assert not [m for m in mails() if "婉拒" in subject(m)]
    assert inbox(rpc, "disp1")["unread"] == 1
    assert rpc.notifications.read_all("disp1") == {"updated": 1, "unread": 0}


def test_reminders_fire_when_due_move_with_the_order_and_go_when_it_is_cancelled(system, mongo):
    rpc, config, mails, calls, spy = system
    db = mongo[f"{config['DB_PREFIX']}notifications"]
    publish_event(config, "orders", "order_accepted", **snapshot("o4"))
    wait_until(lambda: inbox(rpc, "ent1")["items"], what="the acceptance")
    # a delivery just under 48 hours away: its 48-hour reminder is due now, its 2-hour one later
    start = dt.datetime.now(CST) + dt.timedelta(hours=48) - dt.timedelta(seconds=2)
    publish_event(config, "dispatch", "offer_made", **offer("o4", "f4", start))
    publish_event(
        config,
        "dispatch",
        "offer_accepted",
        **{k: offer("o4", "f4", start)[k] for k in ("offer_id", "order_id", "palace_id", "volunteer_id", "skill")},
    )
    crew = [{"volunteer_id": "v1", "skill": "声乐"}]
    end = start + dt.timedelta(hours=2)
    publish_event(
        config,
        "dispatch",
        "order_scheduled",
        order_id="o4",
        palace_id="p1",
        start=start.isoformat(),
        end=end.isoformat(),
        crew=crew,
    )

    def reminded(username):
        return [n for n in inbox(rpc, username)["items"] if n["kind"] == "reminder"]

    mine = wait_until(lambda: reminded("vol1"), what="the volunteer's 48-hour reminder")
    assert mine[0]["title"] == "服务提醒：两天后" and "劳动者之歌" in mine[0]["body"]
    wait_until(lambda: reminded("ent1"), what="the enterprise's 48-hour reminder")
    time.sleep(1.5)
    assert len(reminded("vol1")) == 1 and len(reminded("ent1")) == 1  # said once
    two_hours = db.reminders.find_one({"_id": "o4|volunteer:v1|2h"})
    assert two_hours["status"] == "pending"
    assert abs(two_hours["due"] - (start - dt.timedelta(hours=2))) < dt.timedelta(seconds=1)
    assert db.reminders.find_one({"_id": "o4|enterprise|2h"}) is None  # the enterprise is reminded two days ahead only

    # moved: the order scheduled again three hours later moves the reminder
    later = start + dt.timedelta(hours=3)
    publish_event(
        config,
        "dispatch",
        "order_scheduled",
        order_id="o4",
        palace_id="p1",
        start=later.isoformat(),
        end=(later + dt.timedelta(hours=2)).isoformat(),
        crew=crew,
    )
    wait_until(
        lambda: abs(db.reminders.find_one({"_id": "o4|volunteer:v1|2h"})["start"] - later) < dt.timedelta(seconds=1),
        what="the reminder moved",
    )

    # cancelled: nothing more is said, and the crew is told
    publish_event(
        config,
        "orders",
        "order_cancelled",
        order_id="o4",
        palace_id="p1",
        enterprise_id="e1",
        previous_status="scheduled",
    )
    wait_until(lambda: [n for n in inbox(rpc, "vol1")["items"] if n["title"] == "服务已取消"], what="the crew told")
    assert all(r["status"] != "pending" for r in db.reminders.find({"order_id": "o4"}))


def test_a_two_hour_reminder_is_said_and_a_replaced_volunteer_is_not_reminded(system, mongo):
    rpc, config, mails, calls, spy = system
    db = mongo[f"{config['DB_PREFIX']}notifications"]
    publish_event(config, "orders", "order_accepted", **snapshot("o5"))
    start = dt.datetime.now(CST) + dt.timedelta(hours=2) - dt.timedelta(seconds=2)
    crew = [{"volunteer_id": "v1", "skill": "声乐"}, {"volunteer_id": "v7", "skill": "器乐"}]
    end = (start + dt.timedelta(hours=2)).isoformat()
    publish_event(
        config,
        "dispatch",
        "order_scheduled",
        order_id="o5",
        palace_id="p1",
        start=start.isoformat(),
        end=end,
        crew=crew,
    )
    got = wait_until(
        lambda: [n for n in inbox(rpc, "vol1")["items"] if n["kind"] == "reminder"], what="2-hour reminder"
    )
    assert got[0]["title"] == "服务提醒：两小时后开始"
    assert db.reminders.find_one({"_id": "o5|volunteer:v1|48h"}) is None

    # a later delivery: v7 hands over to v1 before any reminder is due
    far = dt.datetime.now(CST) + dt.timedelta(days=4)
    far_end = (far + dt.timedelta(hours=2)).isoformat()
    publish_event(
        config,
        "dispatch",
        "order_scheduled",
        order_id="o6",
        palace_id="p1",
        start=far.isoformat(),
        end=far_end,
        crew=crew[1:],
    )
    wait_until(lambda: db.reminders.find_one({"_id": "o6|volunteer:v7|48h"}), what="v7's reminders")
    publish_event(
        config,
        "dispatch",
        "assignment_handed_over",
        order_id="o6",
        palace_id="p1",
        skill="器乐",
        from_volunteer_id="v7",
        to_volunteer_id="v1",
        from_offer_id="f6",
        to_offer_id="f7",
    )
    wait_until(lambda: db.reminders.find_one({"_id": "o6|volunteer:v1|48h"}), what="v1's reminders")
    assert {r["status"] for r in db.reminders.find({"order_id": "o6", "volunteer_id": "v7"})} == {"cancelled"}

    # cancelled afterwards: the one who took over is told, not the one who handed over
    publish_event(
        config,
        "orders",
        "order_cancelled",
        order_id="o6",
        palace_id="p1",
        enterprise_id="e1",
        previous_status="scheduled",
    )
    wait_until(lambda: [n for n in inbox(rpc, "vol1")["items"] if n["title"] == "服务已取消"], what="v1 told")
    told = [n["username"] for n in db.notifications.find({"order_id": "o6", "title": "服务已取消"})]
    assert told == ["vol1"]
    assert [n["title"] for n in inbox(rpc, "vol7")["items"] if n["order_id"] == "o6"] == ["任务已转交", "演出人员已齐"]


def test_an_order_no_event_told_of_is_asked_of_the_orders_service(system):
    rpc, config, mails, calls, spy = system
    start = dt.datetime.now(CST) + dt.timedelta(days=3)
    end = (start + dt.timedelta(hours=2)).isoformat()
    crew = [{"volunteer_id": "v1", "skill": "声乐"}]
    for order_id in ("o9", "unknown1"):
        publish_event(
            config,
            "dispatch",
            "order_scheduled",
            order_id=order_id,
            palace_id="p1",
            start=start.isoformat(),
            end=end,
            crew=crew,
        )
    told = wait_until(lambda: len(inbox(rpc, "vol1")["items"]) == 2 and inbox(rpc, "vol1")["items"], what="the crew")
    assert {n["order_id"] for n in told} == {"o9", "unknown1"}
    [scheduled] = wait_until(lambda: inbox(rpc, "ent1")["items"], what="the enterprise told")
    assert (
        scheduled["order_id"] == "o9" and "职工合唱" in scheduled["body"] and "经编园区 3 号厂房" in scheduled["body"]
    )


def test_three_processes_say_each_due_reminder_once_and_send_each_email_once(system, mongo):
    """Two more notifications processes (started as `make run` starts them, settings from
    config.yml and the environment) compete with the one in the test for the same reminders,
    deliveries and events."""
    rpc, config, mails, calls, spy = system
    env = {
        **os.environ,
        **{k: str(v) for k, v in config.items() if k.isupper() and k != "WEB_SERVER_ADDRESS"},
        "LOG_LEVEL": "WARNING",
    }
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "nameko",
                "run",
                "--config",
                os.path.join(ROOT, "config.yml"),
                TARGETS["notifications"],
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    try:
        db = mongo[f"{config['DB_PREFIX']}notifications"]
        wait_until(lambda: rpc.notifications.ping() == "ok", what="the processes")
        time.sleep(2)  # the two processes are consuming too
        start = dt.datetime.now(CST) + dt.timedelta(hours=48) - dt.timedelta(seconds=3)
        crew = [{"volunteer_id": "v1", "skill": "声乐"}]
        orders = [f"race{i}" for i in range(6)]
        for order_id in orders:
            publish_event(config, "orders", "order_accepted", **snapshot(order_id))
            end = (start + dt.timedelta(hours=2)).isoformat()
            publish_event(
                config,
                "dispatch",
                "order_scheduled",
                order_id=order_id,
                palace_id="p1",
                start=start.isoformat(),
                end=end,
                crew=crew,
            )

        def reminders():
            return [m for m in mails() if subject(m) == "【工人文化宫】服务提醒：两天后"]

        wait_until(lambda: len(reminders()) >= len(orders), timeout=30, what="every reminder emailed")
        time.sleep(2)
        said = [n for n in db.notifications.find({"username": "vol1", "kind": "reminder"})]
        assert sorted(n["order_id"] for n in said) == orders  # each once
        assert len(reminders()) == len(orders)
        hooks = [
            c["body"]["notification_id"]
            for c in calls
            if c["body"]["kind"] == "reminder" and c["body"]["username"] == "vol1"
        ]
        assert sorted(hooks) == sorted(n["_id"] for n in said)
        scheduled = [n for n in db.notifications.find({"username": "ent1", "title": "服务时间已排定"})]
        assert sorted(n["order_id"] for n in scheduled) == orders
        assert all(d["attempts"] == 1 for d in db.deliveries.find({"username": "vol1", "kind": "reminder"}))
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()


def test_accounts_names_the_open_accounts_of_volunteers_enterprises_and_palaces(container_factory, service_config):
    container_factory(AccountsService, service_config).start()
    with ClusterRpcProxy(service_config, timeout=30) as rpc:
        for user in (
            {"username": "vol1", "role": "volunteer", "palace_id": "p1", "volunteer_id": "v1"},
            {"username": "ent1", "role": "enterprise", "palace_id": "p1", "enterprise_id": "e1"},
            {"username": "ent1b", "role": "enterprise", "palace_id": "p1", "enterprise_id": "e1"},
            {"username": "disp1", "role": "dispatcher", "palace_id": "p1"},
            {"username": "disp2", "role": "dispatcher", "palace_id": "p2"},
            {"username": "admin", "role": "admin"},
        ):
            rpc.accounts.create_user({**user, "password": PASSWORD})
        waiting = rpc.accounts.register(
            {
                "username": "waiting",
                "password": PASSWORD,
                "role": "enterprise",
                "palace_id": "p1",
                "notice_version": 1,
                "enterprise": {
                    "name": "皮革城工会",
                    "district": "海宁",
                    "contact_name": "王伟",
                    "contact_phone": "13905730001",
                },
            }
        )
        found = rpc.accounts.recipients({"volunteer": ["v1"], "enterprise": ["e1"], "palace": ["p1"]})
        assert [u["username"] for u in found] == ["disp1", "ent1", "ent1b", "vol1"]
        assert rpc.accounts.recipients({"palace": ["p2"]})[0]["role"] == "dispatcher"
        assert rpc.accounts.recipients({}) == []
        # a registration still waiting for a dispatcher is told nothing yet
        assert rpc.accounts.recipients({"enterprise": [waiting["enterprise_id"]]}) == []
        with pytest.raises(Exception) as err:
            rpc.accounts.recipients({"palace": [{"$gt": ""}]})
        assert "INVALID" in str(err.value)


def test_bad_events_are_dead_lettered_with_the_reason_and_notifications_keep_flowing(system):
    from tests.helpers import assert_bad_events_are_dead_lettered

    rpc, config, mails, calls, spy = system
    assert_bad_events_are_dead_lettered(config, "orders", "order_accepted")
    publish_event(config, "orders", "order_accepted", **snapshot("after"))
    wait_until(lambda: [n for n in inbox(rpc, "ent1")["items"] if n["order_id"] == "after"], what="a good event")


def test_email_goes_over_starttls_only_to_a_server_whose_certificate_is_trusted(tmp_path, monkeypatch):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"]
        + ["-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    delivery = {
        "_id": "n1|email",
        "notification_id": "n1",
        "address": "li.ming@example.cn",
        "title": "服务提醒：两小时后开始",
        "body": "经编园区 3 号厂房，「劳动者之歌」。",
        "link": "/app/volunteer#schedule",
    }
    with smtp_process("--tlscert", str(cert), "--tlskey", str(key)) as (port, mails):
        email_channel = Email({"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port), "SMTP_STARTTLS": "1"})
        with pytest.raises(ssl.SSLCertVerificationError):
            email_channel.send(delivery)  # a certificate nobody vouches for: nothing is sent
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        email_channel.send(delivery)
        [mail] = wait_until(mails, what="the email over TLS")
        assert subject(mail) == "【工人文化宫】服务提醒：两小时后开始"
        # without STARTTLS the server (which requires TLS) refuses the mail, and the reason is kept
        with pytest.raises(smtplib.SMTPException):
            Email({"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port)}).send(delivery)


def test_an_account_made_after_its_scope_was_looked_up_is_told_of_the_next_event(system):
    """Whom a scope reaches is kept in memory for a while; a new account is told to every
    notifications process at once (a signal from accounts), so it misses nothing meanwhile."""
    rpc, config, mails, calls, spy = system
    publish_event(config, "orders", "order_accepted", **snapshot("o50", enterprise_id="e5"))
    time.sleep(1.5)  # handled: enterprise e5 has no account yet, and that is remembered
    rpc.accounts.create_user(
        {"username": "ent5", "role": "enterprise", "palace_id": "p1", "enterprise_id": "e5", "password": PASSWORD}
    )
    publish_event(config, "orders", "order_accepted", **snapshot("o51", enterprise_id="e5"))
    got = wait_until(lambda: inbox(rpc, "ent5")["items"], what="the new account's notification")
    assert [n["order_id"] for n in got] == ["o51"]
