"""reporting's retention sweep against the real broker and database: the archive's events older than
RETAIN_ARCHIVE_DAYS lose their personal fields in place (never the event), comments older than
RETAIN_COMMENTS_DAYS go, newer ones stay untouched, and the statistics rebuilt from the archive
after the sweep are the figures from before it."""

import datetime as dt

import pytest
from nameko.standalone.rpc import ClusterRpcProxy

from common.personal import REDACTED
from services.reporting.service import ReportingService
from tests.helpers import publish_event, wait_until

OLD, NEW = "2025-03-05", "2026-11-20"  # this machine's today is in 2026-12: OLD is over 365 days back
ACTOR = {"username": "disp-haining", "role": "dispatcher", "palace_id": "p1", "address": "10.1.2.3"}


def t(day: str, hour: int) -> str:
    return f"{day}T{hour:02d}:00:00+08:00"


def an_order(config, order_id: str, day: str) -> list[dict]:
    """An order's events on ``day``: placed, accepted, offered, scheduled, delivered, hours granted,
    and two answers, one with a comment; each carrying personal fields the statistics do not read."""
    snap = dict(
        order_id=order_id,
        palace_id="p1",
        enterprise_id="e1",
        program_id="song",
        program_title="劳动者之歌",
        custom_request="请王芳老师来唱",
        site_address="一号车间",
        district="海宁",
        audience_size=200,
        windows=[{"start": t(day, 14), "end": t(day, 16)}],
    )
    events = [
        ("orders", "order_placed", dict(snap, actor=ACTOR, occurred_at=t(day, 8))),
        ("orders", "order_accepted", dict(snap, note="联系人王芳 13800000000", actor=ACTOR, occurred_at=t(day, 9))),
        (
            "dispatch",
            "offer_made",
            dict(
                order_id=order_id,
                palace_id="p1",
                offer_id=f"{order_id}-a",
                volunteer_id="v1",
                skill="声乐",
                start=t(day, 14),
                end=t(day, 16),
                deadline=t(day, 12),
                rank=1,
                occurred_at=t(day, 9),
            ),
        ),
        (
            "dispatch",
            "order_scheduled",
            dict(
                order_id=order_id,
                palace_id="p1",
                troupe_id="t1",
                start=t(day, 14),
                end=t(day, 16),
                crew=[{"volunteer_id": "v1", "skill": "声乐"}],
                actor=ACTOR,
                occurred_at=t(day, 11),
            ),
        ),
        (
            "dispatch",
            "delivery_completed",
            dict(
                order_id=order_id,
                palace_id="p1",
                enterprise_id="e1",
                program_id="song",
                program_title="劳动者之歌",
                troupe_id="t1",
                district="海宁",
                start=t(day, 14),
                end=t(day, 16),
                people_served=150,
                completed_at=t(day, 16),
                volunteers=[{"volunteer_id": "v1", "hours": 2.0}],
                occurred_at=t(day, 16),
            ),
        ),
        (
            "dispatch",
            "hours_granted",
            dict(
                order_id=order_id,
                palace_id="p1",
                volunteer_id="v2",
                hours=1.5,
                reason="李雷忘了签到",
                granted_by="disp-haining",
                actor=ACTOR,
                occurred_at=t(day, 17),
            ),
        ),
    ]
    for n, (score, comment) in enumerate([(5, "王芳唱得真好"), (3, None)]):
        answer = dict(
            survey_id=f"s-{order_id}",
            order_id=order_id,
            palace_id="p1",
            response_id=f"{order_id}-r{n}",
            overall=score,
            performers=score,
            comment=comment,
            wanted_programs=["八段锦"],
            occurred_at=t(day, 18),
        )
        events.append(("feedback", "response_received", answer))
    return [publish_event(config, source, kind, **data) for source, kind, data in events]


@pytest.fixture
def reporting(container_factory, service_config):
    container = container_factory(ReportingService, {**service_config, "RETAIN_ARCHIVE_DAYS": 365})
    container.start()
    with ClusterRpcProxy(service_config) as rpc:
        yield rpc.reporting


def figures(reporting) -> dict:
    return {
        "old": reporting.dashboard("p1", "2025-03", "2025-03"),
        "new": reporting.dashboard("p1", "2026-11", "2026-11"),
        "all": reporting.dashboard("*", "2025-01", "2026-12"),
        "volunteers": reporting.volunteers("p1", "2025-01", "2026-12"),
        "v1": reporting.volunteer_record("v1"),
        "v2": reporting.volunteer_record("v2"),
        "coverage": {k: v for k, v in reporting.coverage("p1", 24).items() if k != "since"},  # since: now - 24 months
    }


def test_the_sweep_clears_old_personal_fields_in_place_and_a_rebuild_gives_the_same_figures(
    reporting, service_config, mongo
):
    sent = an_order(service_config, "old", OLD) + an_order(service_config, "new", NEW)
    wait_until(lambda: reporting.archive_size() == len(sent), what="every event archived")
    wait_until(lambda: reporting.backlog() == 0, what="every event counted")
    before = figures(reporting)
    assert before["old"]["totals"]["deliveries"] == 1 and before["old"]["totals"]["service_hours"] == 3.5
    assert {c["comment"] for c in reporting.comments("p1", 50)} == {"王芳唱得真好"}
    assert len(reporting.comments("p1", 50)) == 2  # one per order

    swept = {k["kind"]: k for k in reporting.sweep_now()}
    # placed, accepted, scheduled (an actor), hours granted (who, why) and the answer with a comment;
    # the offer, the delivery and the answer without a comment carry nothing personal
    assert swept["archive"]["removed"] == 5
    assert swept["report_comments"]["removed"] == 1
    assert swept["archive"]["days"] == 365 and swept["archive"]["swept_at"]
    assert swept["archive"]["oldest"].startswith("2026-11-20")  # the oldest not yet redacted

    db = mongo[service_config["DB_PREFIX"] + "reporting"]
    archived = {d["_id"]: d for d in db.events.find()}
    assert len(archived) == len(sent)  # nothing deleted
    for event in sent:
        doc = archived[event["event_id"]]
        payload = doc["payload"]
        if event["occurred_at"].startswith("2025"):
            assert doc["redacted_at"] is not None
            assert payload.get("comment") is None
            for key in ("note", "reason", "granted_by", "custom_request"):
                assert payload.get(key) == (REDACTED if event.get(key) else None), key
            if event.get("actor"):
                assert payload["actor"] == {**ACTOR, "username": REDACTED, "address": REDACTED}
            # what the statistics count by stays
            for key in ("order_id", "palace_id", "volunteer_id", "hours", "overall", "people_served", "district"):
                assert payload.get(key) == event.get(key), key
        else:
            assert "redacted_at" not in doc and payload == event
    comments = reporting.comments("p1", 50)
    assert [c["order_id"] for c in comments] == ["new"]

    assert figures(reporting) == before  # the sweep changes no number
    reporting.rebuild("test")
    wait_until(lambda: reporting.backlog() == 0, what="the rebuild counted")
    assert figures(reporting) == before  # nor does a rebuild from the redacted archive
    assert [c["order_id"] for c in reporting.comments("p1", 50)] == ["new"]  # and no old comment comes back

    again = {k["kind"]: k for k in reporting.sweep_now()}
    assert again["archive"]["removed"] == 0 and again["report_comments"]["removed"] == 0
    stored = db.retention.find_one({"_id": "archive"})
    assert stored["removed"] == 0 and stored["swept_at"] > dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)


def test_zero_days_keeps_the_archive_as_it_is(container_factory, service_config, mongo):
    container = container_factory(
        ReportingService, {**service_config, "RETAIN_ARCHIVE_DAYS": 0, "RETAIN_COMMENTS_DAYS": 0}
    )
    container.start()
    with ClusterRpcProxy(service_config) as rpc:
        sent = an_order(service_config, "old", OLD)
        wait_until(lambda: rpc.reporting.archive_size() == len(sent), what="every event archived")
        wait_until(lambda: rpc.reporting.backlog() == 0, what="every event counted")
        swept = {k["kind"]: k for k in rpc.reporting.sweep_now()}
        assert swept["archive"]["removed"] == 0 and swept["archive"]["days"] == 0
        assert swept["archive"]["oldest"].startswith("2025-03-05")
        assert len(rpc.reporting.comments("p1", 50)) == 1
    db = mongo[service_config["DB_PREFIX"] + "reporting"]
    assert db.events.count_documents({"redacted_at": {"$ne": None}}) == 0
