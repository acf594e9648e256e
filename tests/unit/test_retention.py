"""The retention policy without I/O: every kind named once with its setting or its TTL rule, the
cutoffs the settings give, and the archive's redaction, which clears what says who someone is
and changes no statistic the projections count."""

import datetime as dt
import re

import pytest

from common import config, retention
from common.personal import REDACTED
from services.gateway import retention as page
from services.reporting import domain

NOW = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
CN = dt.timezone(dt.timedelta(hours=8))
ACTOR = {"username": "disp-haining", "role": "dispatcher", "palace_id": "p1", "address": "10.1.2.3"}


def test_each_kind_is_named_once_with_its_service_and_either_a_setting_or_a_ttl_rule():
    keys = [k.key for k in retention.POLICY]
    assert len(keys) == len(set(keys))
    for kind in retention.POLICY:
        assert kind.service in retention.SERVICE_NAMES and kind.what
        assert kind.how in ("delete", "clear", "redact", "ttl")
        if kind.how == "ttl":
            assert kind.setting is None and kind.rule
        else:
            entry = config.TABLE[kind.setting]  # a setting of the table, in whole days
            assert kind.setting.startswith("RETAIN_") and kind.setting.endswith("_DAYS")
            assert entry.type is int and entry.default > 0 and kind.rule is None
    assert set(retention.SWEPT_SERVICES) == {"notifications", "feedback", "reporting"}


def test_the_defaults():
    got = {k.key: retention.days({}, k) for k in retention.POLICY if k.setting}
    assert got == {
        "notifications": 180,
        "deliveries": 30,
        "survey_comments": 365,
        "report_comments": 365,
        "archive": 365,
    }


def test_a_cutoff_is_now_less_the_days_and_zero_keeps():
    assert retention.cutoff(NOW, 30) == NOW - dt.timedelta(days=30)
    assert retention.cutoff(NOW, 0) is None and retention.cutoff(NOW, None) is None
    assert retention.cutoff(NOW, -5) is None
    got = retention.cutoffs({"RETAIN_NOTIFICATIONS_DAYS": "7", "RETAIN_DELIVERIES_DAYS": 0}, "notifications", NOW)
    assert got == {"notifications": NOW - dt.timedelta(days=7), "deliveries": None}  # TTL kinds are not swept
    assert set(retention.cutoffs({}, "accounts", NOW)) == set()


def test_the_page_says_how_long_in_words():
    kinds = {k.key: k for k in retention.POLICY}
    assert page.period(kinds["notifications"], 180, "zh-CN") == "180 天后删除"
    assert page.period(kinds["archive"], 0, "zh-CN") == "长期保存（未设期限）"
    assert page.period(kinds["sessions"], None, "zh-CN") == kinds["sessions"].rule
    answers = {"accounts": None, "notifications": [{"kind": "deliveries", "days": 30, "removed": 4}]}
    rows = {r["kind"]: r for r in page.table(answers, "zh-CN")["kinds"]}
    assert [r["kind"] for r in page.table(answers, "zh-CN")["kinds"]] == [k.key for k in retention.POLICY]
    assert rows["deliveries"]["removed"] == 4 and rows["deliveries"]["available"]
    assert not rows["sessions"]["available"]  # accounts did not answer
    assert rows["import_previews"]["available"]  # nothing to ask: a TTL index
    english = {r["kind"]: r for r in page.table(answers, "en")["kinds"]}
    assert english["deliveries"]["period"] == "deleted after 30 days" and english["deliveries"]["where"] != "消息"
    assert all(not re.search(r"[\u4e00-\u9fff]", r["what"] + r["period"] + r["where"]) for r in english.values())


def events() -> list[dict]:
    """An order's story as the projector sees it, with the personal fields its events carry."""
    base = {"order_id": "o1", "palace_id": "p1"}
    day = dt.datetime(2025, 3, 5, 8, tzinfo=CN)
    snap = {
        **base,
        "enterprise_id": "e1",
        "program_id": "song",
        "program_title": "劳动者之歌",
        "custom_request": "请王芳来",
        "district": "海宁",
        "site_address": "一号车间",
        "audience_size": 100,
        "windows": [],
        "actor": ACTOR,
    }
    at = [day + dt.timedelta(hours=h) for h in range(12)]
    return [
        {**snap, "event_type": "order_placed", "occurred_at": at[0]},
        {**snap, "event_type": "order_accepted", "note": "联系人王芳 13800000000", "occurred_at": at[1]},
        {**base, "event_type": "offer_made", "volunteer_id": "v1", "skill": "声乐", "occurred_at": at[1]},
        {**base, "event_type": "offer_declined", "volunteer_id": "v1", "skill": "声乐", "occurred_at": at[2]},
        {**base, "event_type": "order_scheduled", "troupe_id": "t1", "start": at[6], "end": at[8],
         "crew": [{"volunteer_id": "v2", "skill": "声乐"}], "actor": ACTOR, "occurred_at": at[3]},
        {**base, "event_type": "delivery_completed", "troupe_id": "t1", "enterprise_id": "e1", "district": "海宁",
         "program_id": "song", "start": at[6], "end": at[8], "people_served": 90, "completed_at": at[8],
         "volunteers": [{"volunteer_id": "v2", "hours": 2.0}], "occurred_at": at[8]},
        {**base, "event_type": "hours_granted", "volunteer_id": "v3", "hours": 1.5, "reason": "李雷忘了签到",
         "granted_by": "disp-haining", "actor": ACTOR, "occurred_at": at[9]},
        {**base, "event_type": "volunteer_no_show", "volunteer_id": "v4", "skill": "声乐", "reason": "张三没来",
         "actor": ACTOR, "occurred_at": at[9]},
        {**base, "event_type": "response_received", "response_id": "r1", "overall": 5, "performers": 4,
         "comment": "王芳唱得好", "wanted_programs": ["越剧"], "occurred_at": at[10]},
    ]  # fmt: skip


def projected(evts: list[dict]) -> domain.Ops:
    ops = domain.Ops()
    for event in evts:
        domain.project(event, ops.orders.get(event.get("order_id")), ops)
    return ops


def test_redacting_an_event_clears_who_and_keeps_what_is_counted():
    event = events()[6]  # hours granted
    update, cleared = retention.redact_event({"payload": event}, NOW)
    payload = update["$set"]["payload"]
    assert update["$set"]["redacted_at"] == NOW
    assert cleared == 4  # the actor's username and address, the reason, who granted
    assert payload["actor"] == {**ACTOR, "username": REDACTED, "address": REDACTED}
    assert payload["reason"] == REDACTED and payload["granted_by"] == REDACTED
    assert {k: payload[k] for k in ("volunteer_id", "hours", "order_id", "palace_id", "occurred_at")} == {
        k: event[k] for k in ("volunteer_id", "hours", "order_id", "palace_id", "occurred_at")
    }
    answer, cleared = retention.redact_event({"payload": events()[-1]}, NOW)
    assert cleared == 1 and answer["$set"]["payload"]["comment"] is None  # no comment made of it again
    again, cleared = retention.redact_event({"payload": payload}, NOW)
    assert cleared == 4 and again["$set"]["payload"] == payload  # the same again: nothing more to clear


def test_no_statistic_changes_when_the_archive_is_redacted():
    """What the projections count from the story, before and after every event is redacted: the
    same rows and numbers; only the comment, whose words are what the policy removes, is gone."""
    plain = events()
    redacted = [retention.redact_event({"payload": e}, NOW)[0]["$set"]["payload"] for e in plain]
    assert redacted != plain
    before, after = projected(plain), projected(redacted)
    for name in ("facts", "labels", "volunteers", "reach", "reach_count", "orders"):
        assert getattr(after, name) == getattr(before, name), name
    assert [c["comment"] for c in before.comments] == ["王芳唱得好"] and after.comments == []


@pytest.mark.parametrize("key", sorted(retention.ARCHIVE_KEYS))
def test_the_projector_reads_none_of_the_cleared_fields(key):
    """Each cleared field, set to something else in every event, changes no number."""
    plain = events()
    changed = [{**e, key: "别的"} if key in e else e for e in plain]
    before, after = projected(plain), projected(changed)
    for name in ("facts", "labels", "volunteers", "reach", "reach_count"):
        assert getattr(after, name) == getattr(before, name), (key, name)
