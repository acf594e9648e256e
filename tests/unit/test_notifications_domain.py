"""Who is told what, when, and on which channel: the rules of notifications, without I/O."""

import datetime as dt
import email
import email.header
import email.policy

from services.notifications import domain
from services.notifications.channels import Email, Webhook, signature

CST = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=CST)
START = dt.datetime(2026, 12, 5, 14, 0, tzinfo=CST)
ORDER = {
    "_id": "o1",
    "palace_id": "p1",
    "enterprise_id": "e1",
    "program_title": "劳动者之歌",
    "site_address": "3 号厂房",
    "start": START,
}
NAMES = {"v1": "李明", "v2": "王芳"}


def drafts(event_type, told=(), **event):
    return domain.drafts(event_type, {"order_id": "o1", "palace_id": "p1", **event}, ORDER, NAMES, list(told))


def to(found):
    return [(d.kind, d.scope, d.scope_id) for d in found]


def test_an_offer_goes_to_the_volunteer_with_time_place_and_deadline():
    [d] = drafts("offer_made", volunteer_id="v1", skill="声乐", start=START, deadline=NOW + dt.timedelta(hours=24))
    assert to([d]) == [("offer", "volunteer", "v1")]
    assert d.title == "新的服务邀约"
    assert "12月5日 14:00" in d.body and "3 号厂房" in d.body and "劳动者之歌" in d.body and "12月2日 09:00" in d.body


def test_a_swap_and_a_cover_offer_say_what_they_are():
    base = {"volunteer_id": "v1", "skill": "声乐", "start": START, "deadline": NOW}
    assert drafts("offer_made", kind="swap", **base)[0].title == "同事请您接替一项任务"
    assert drafts("offer_made", kind="cover", **base)[0].title == "紧急顶替邀约"


def test_enterprises_hear_of_their_orders_status():
    assert to(drafts("order_accepted", enterprise_id="e1")) == [("order_status", "enterprise", "e1")]
    [rejected] = drafts("order_rejected", enterprise_id="e1", reason="档期已满")
    assert rejected.title == "订单未被受理" and "档期已满" in rejected.body
    scheduled = drafts("order_scheduled", start=START, crew=[{"volunteer_id": "v1", "skill": "声乐"}])
    assert to(scheduled) == [("order_status", "enterprise", "e1"), ("assignment", "volunteer", "v1")]
    closed = drafts("order_closed", enterprise_id="e1", satisfaction=4.56, responses=30)
    assert "满意度 4.6 分" in closed[0].body
    assert "没有收到评议" in drafts("order_closed", enterprise_id="e1", satisfaction=None, responses=0)[0].body
    assert to(drafts("survey_opened", closes_at=START)) == [("survey", "enterprise", "e1")]


def test_dispatchers_hear_of_declines_expiries_no_shows_and_unfulfillable_orders_by_name():
    [declined] = drafts("offer_declined", volunteer_id="v1", skill="声乐", reason="加班")
    assert to([declined]) == [("declined", "palace", "p1")]
    assert declined.body.startswith("李明婉拒了") and "加班" in declined.body
    assert to(drafts("offer_expired", volunteer_id="v2", skill="器乐")) == [
        ("expiring", "palace", "p1"),
        ("offer", "volunteer", "v2"),
    ]
    no_show = drafts("volunteer_no_show", volunteer_id="v1", skill="声乐", reason="生病", cover_offer_id=None)
    assert to(no_show) == [("no_show", "palace", "p1"), ("assignment", "volunteer", "v1")]
    assert "没有找到顶替人选" in no_show[0].body
    assert to(drafts("order_unfulfillable", code="NO_CREW", reason="没有声乐志愿者")) == [
        ("order_status", "enterprise", "e1"),
        ("unfulfillable", "palace", "p1"),
    ]
    assert to(drafts("order_placed", district="海宁", enterprise_id="e1")) == [("orders", "palace", "p1")]


def test_a_cancelled_order_tells_the_enterprise_the_palace_and_the_crew():
    found = drafts("order_cancelled", told=["v1", "v2"], enterprise_id="e1", previous_status="scheduled")
    assert to(found) == [
        ("order_status", "enterprise", "e1"),
        ("orders", "palace", "p1"),
        ("assignment", "volunteer", "v1"),
        ("assignment", "volunteer", "v2"),
    ]
    # cancelled before anyone looked at it: the palace had nothing to undo
    assert to(drafts("order_cancelled", enterprise_id="e1", previous_status="submitted")) == [
        ("order_status", "enterprise", "e1")
    ]


def test_a_completed_delivery_tells_each_volunteer_their_hours():
    found = drafts(
        "delivery_completed",
        enterprise_id="e1",
        people_served=180,
        volunteers=[{"volunteer_id": "v1", "hours": 2.0, "granted_hours": 0.5}],
    )
    assert "180 人次" in found[0].body and "2.5 小时" in found[1].body


def test_events_that_concern_nobody_make_no_notification():
    assert drafts("offer_accepted", volunteer_id="v1", skill="声乐") == []
    assert drafts("order_amended", enterprise_id="e1", changed=["site_address"]) == []


def test_reminders_are_48_and_2_hours_ahead_and_only_while_they_still_tell_something():
    assert domain.reminder_times(START, NOW) == {
        "48h": START - dt.timedelta(hours=48),
        "2h": START - dt.timedelta(hours=2),
    }
    # completed a day ahead: the two-day reminder would come too late to help
    assert set(domain.reminder_times(START, START - dt.timedelta(hours=30))) == {"2h"}
    assert domain.reminder_times(START, START - dt.timedelta(hours=1)) == {}
    # just under the lead: due at once, not dropped
    assert "48h" in domain.reminder_times(START, START - dt.timedelta(hours=47, minutes=59))


def test_a_reminder_found_due_after_its_delivery_began_is_stale():
    reminder = {"lead": "2h", "start": START}
    assert not domain.is_stale(reminder, START - dt.timedelta(minutes=1))
    assert domain.is_stale(reminder, START)
    assert domain.is_stale({"lead": "expiring", "deadline": NOW}, NOW)


def test_reminders_say_when_and_where_to_the_volunteer_and_the_enterprise():
    [v] = domain.reminder_drafts({"lead": "2h", "order_id": "o1", "volunteer_id": "v1", "start": START}, ORDER, NAMES)
    assert (v.kind, v.scope_id, v.title) == ("reminder", "v1", "服务提醒：两小时后开始") and "签到" in v.body
    [e] = domain.reminder_drafts({"lead": "48h", "order_id": "o1", "start": START}, ORDER, NAMES)
    assert (e.scope, e.scope_id) == ("enterprise", "e1") and "准备好场地" in e.body
    expiring = {"lead": "expiring", "order_id": "o1", "volunteer_id": "v2", "skill": "器乐", "deadline": START}
    [x] = domain.reminder_drafts(expiring, ORDER, NAMES)
    assert (x.kind, x.scope) == ("expiring", "palace") and x.body.startswith("王芳还没有答复")


def test_an_offer_warns_the_dispatchers_six_hours_before_its_deadline_if_there_is_time():
    assert domain.expiring_time(NOW + dt.timedelta(hours=24), NOW) == NOW + dt.timedelta(hours=18)
    assert domain.expiring_time(NOW + dt.timedelta(hours=5), NOW) is None


def test_the_inbox_always_keeps_a_notification_and_a_muted_kind_goes_nowhere_else():
    available = {"email": True, "webhook": True}
    prefs = domain.Preferences(email="a@b.cn", webhook=True)
    assert domain.routing(prefs, "offer", available) == (["inbox", "email", "webhook"], False)
    prefs.mutes = {"offer": {"email"}}
    assert domain.routing(prefs, "offer", available) == (["inbox", "webhook"], False)
    prefs.mutes = {"offer": {"inbox", "email", "webhook"}}
    assert domain.routing(prefs, "offer", available) == (["inbox"], True)  # kept, arrives read
    assert domain.routing(prefs, "reminder", available) == (["inbox", "email", "webhook"], False)


def test_external_channels_need_an_address_an_opt_in_and_the_channel_configured():
    assert domain.routing(domain.Preferences(), "offer", {"email": True, "webhook": True}) == (["inbox"], False)
    prefs = domain.Preferences(email="a@b.cn", webhook=True)
    assert domain.routing(prefs, "offer", {"email": False, "webhook": True}) == (["inbox", "webhook"], False)
    assert domain.address(domain.Preferences(phone="139"), "webhook", "vol1") == "139"
    assert domain.address(domain.Preferences(), "webhook", "vol1") == "vol1"


def test_each_role_sees_the_kinds_meant_for_it():
    assert domain.kinds_for("volunteer") == ["offer", "reminder", "assignment"]
    assert domain.kinds_for("enterprise") == ["reminder", "order_status", "survey"]
    assert "declined" in domain.kinds_for("dispatcher") and "offer" not in domain.kinds_for("dispatcher")


def test_an_approved_registration_tells_the_person_how_to_sign_in_and_a_refused_one_tells_nobody():
    event = {"username": "luxm", "role": "volunteer", "volunteer_id": "v9", "palace_id": "p1", "decision": "approved"}
    [draft] = domain.drafts("registration_decided", event, None, {}, [])
    assert (draft.kind, draft.scope, draft.scope_id, draft.link) == ("account", "volunteer", "v9", "/login")
    assert "luxm" in draft.body
    union = {**event, "role": "enterprise", "volunteer_id": None, "enterprise_id": "e9"}
    assert domain.drafts("registration_decided", union, None, {}, [])[0].scope_id == "e9"
    assert domain.drafts("registration_decided", {**event, "decision": "rejected"}, None, {}, []) == []


def test_a_reset_link_made_for_an_account_is_told_to_it_without_the_link():
    at = dt.datetime(2026, 12, 2, 6, 30, tzinfo=dt.timezone.utc)
    event = {"username": "luxm", "role": "volunteer", "volunteer_id": "v9", "palace_id": "p1", "by": "disp1"}
    [draft] = domain.drafts("password_reset_requested", {**event, "expires_at": at}, None, {}, [])
    assert (draft.kind, draft.scope, draft.scope_id, draft.title) == ("account", "volunteer", "v9", "密码重置")
    assert draft.body == (
        "disp1 为您的账号 luxm 生成了重置密码的链接，12月2日 14:30 前可用一次，请向其当面索取。如果不是您要求的，请联系文化宫。"
    )
    staff = {**event, "role": "dispatcher", "volunteer_id": None, "expires_at": at}
    assert domain.drafts("password_reset_requested", staff, None, {}, [])[0].scope == "palace"
    admin = {**event, "role": "admin", "volunteer_id": None, "palace_id": None, "expires_at": at}
    assert domain.drafts("password_reset_requested", admin, None, {}, []) == []  # no scope reaches an admin


def test_a_request_to_close_an_account_is_told_to_it_with_the_day_it_happens():
    due = dt.datetime(2026, 12, 8, 6, 30, tzinfo=dt.timezone.utc)
    event = {"username": "luxm", "role": "volunteer", "volunteer_id": "v9", "palace_id": "p1", "by": "disp1"}
    [draft] = domain.drafts("erasure_requested", {**event, "due_at": due}, None, {}, [])
    assert (draft.kind, draft.scope, draft.scope_id, draft.title) == ("account", "volunteer", "v9", "注销账号申请")
    assert draft.body.startswith("文化宫的 disp1 为您登记了注销账号 luxm 的申请，将于 12月8日 14:30 执行")
    [mine] = domain.drafts("erasure_requested", {**event, "by": "luxm", "due_at": due}, None, {}, [])
    assert mine.body.startswith("您已申请注销账号 luxm，将于 12月8日 14:30 执行")
    union = {**event, "role": "enterprise", "volunteer_id": None, "enterprise_id": "e9", "due_at": due}
    assert domain.drafts("erasure_requested", union, None, {}, [])[0].scope_id == "e9"


def test_a_new_account_is_reached_where_its_registration_said():
    assert domain.first_preferences({"email": "a@b.cn", "phone": "13900000000"}) == {
        "email": "a@b.cn",
        "webhook": True,
        "phone": "13900000000",
        "mutes": [],
    }
    assert domain.first_preferences({"email": None, "phone": None})["webhook"] is False


def test_failed_deliveries_back_off_exponentially_up_to_a_day():
    assert [domain.retry_delay(n, 30).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert domain.retry_delay(40, 30) == dt.timedelta(days=1)


DELIVERY = {
    "_id": "n1|email",
    "notification_id": "0123456789abcdef0123",
    "username": "vol1",
    "address": "li.ming@example.cn",
    "kind": "offer",
    "title": "新的服务邀约",
    "body": "12月5日 14:00，3 号厂房，「劳动者之歌」（声乐）。",
    "link": "/app/volunteer#offers",
    "created_at": NOW,
}


def test_an_email_is_utf8_mime_with_a_chinese_subject_and_the_link():
    config = {"SMTP_FROM": "海宁市工人文化宫 <notice@example.cn>", "PUBLIC_URL": "https://wgh.example.cn"}
    raw = Email(config).message(DELIVERY).as_bytes()
    assert raw.isascii()  # every header and the body encoded for any mail server
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Subject"] == "【工人文化宫】新的服务邀约"
    assert parsed["From"].addresses[0].display_name == "海宁市工人文化宫"
    assert parsed.get_content_charset() == "utf-8"
    body = parsed.get_content()
    assert "劳动者之歌" in body and "https://wgh.example.cn/app/volunteer#offers" in body


def test_a_webhook_call_is_signed_over_its_timestamp_and_body():
    body = Webhook({"PUBLIC_URL": "https://wgh.example.cn"}).payload({**DELIVERY, "address": "13900001111"})
    assert b'"to": "13900001111"' in body and "劳动者之歌".encode() in body
    sig = signature("s3cret", "1700000000", body)
    assert sig.startswith("sha256=") and len(sig) == 71
    assert sig != signature("s3cret", "1700000001", body) and sig != signature("other", "1700000000", body)


def test_an_inbox_page_looks_back_from_the_time_its_cursor_was_made():
    from contracts.base import new_id
    from services.notifications.handlers import _id_at, _time_of

    made = dt.datetime.now(dt.timezone.utc)
    cursor = new_id()
    assert abs(_time_of(cursor, NOW) - made) < dt.timedelta(seconds=1)
    assert _id_at(made - dt.timedelta(days=1)) < cursor < _id_at(made + dt.timedelta(seconds=1))
    assert _time_of("not-hex", NOW) == NOW


def test_an_invitation_is_worded_without_its_code_which_is_written_in_only_as_it_is_sent():
    event = {"palace_name": "海宁市工人文化宫", "expires_at": START}
    title, body = domain.invitation_texts(event, {"name": "王芳"})
    assert str(title) == "认领您的志愿者账号" and domain.CODE in str(body)
    assert str(body).startswith("王芳您好：海宁市工人文化宫邀请您")
    sent = domain.with_code({"body": str(body), "link": domain.CLAIM_LINK}, "ABCDEFGH")
    assert "ABCD-EFGH" in sent["body"] and domain.CODE not in sent["body"]
    assert sent["link"] == "/claim?code=ABCDEFGH"
