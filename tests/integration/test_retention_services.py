"""The retention sweeps of notifications, feedback and accounts against the real broker and
database: old and new rows in, the sweep run over RPC, then exactly what went and what stayed."""

import datetime as dt

import pytest
from nameko.standalone.rpc import ClusterRpcProxy

from common import retention
from services.accounts.service import AccountsService
from services.feedback.service import FeedbackService
from services.notifications.service import NotificationsService

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def by_kind(rows: list[dict]) -> dict[str, dict]:
    return {r["kind"]: r for r in rows}


def test_notifications_deletes_inbox_rows_and_delivery_records_past_their_days(
    container_factory, service_config, mongo
):
    config = {**service_config, "RETAIN_NOTIFICATIONS_DAYS": 180, "RETAIN_DELIVERIES_DAYS": 30}
    container = container_factory(NotificationsService, config)
    container.start()
    db = mongo[service_config["DB_PREFIX"] + "notifications"]
    ages = {"n-old": 181, "n-edge": 179, "n-new": 1}
    db.notifications.insert_many(
        [
            {"_id": k, "key": k, "username": "v1", "title": "王芳的服务", "read": False, "created_at": ago(d)}
            for k, d in ages.items()
        ]
    )
    db.deliveries.insert_many(
        [
            {"_id": f"d{d}", "channel": "webhook", "to": "13800000000", "status": "sent", "created_at": ago(d)}
            for d in (400, 31, 29, 0)
        ]
    )
    # earlier versions kept these by a TTL index of fixed days: it is a plain index now
    for coll in (db.notifications, db.deliveries):
        assert "expireAfterSeconds" not in coll.index_information()["created_at_1"]

    with ClusterRpcProxy(service_config) as rpc:
        before = by_kind(rpc.notifications.retention())
        assert before["notifications"]["oldest"] == ago(181).isoformat()
        assert before["notifications"]["swept_at"] is None and before["notifications"]["days"] == 180
        swept = by_kind(rpc.notifications.sweep_now())
    assert swept["notifications"]["removed"] == 1 and swept["deliveries"]["removed"] == 2
    assert sorted(d["_id"] for d in db.notifications.find()) == ["n-edge", "n-new"]
    assert sorted(d["_id"] for d in db.deliveries.find()) == ["d0", "d29"]
    assert swept["notifications"]["oldest"] == ago(179).isoformat()
    assert swept["deliveries"]["oldest"] == ago(29).isoformat()
    assert swept["notifications"]["swept_at"] is not None
    assert swept["reminders"]["days"] is None  # a TTL index: no setting
    stored = db.retention.find_one({"_id": "deliveries"})
    assert stored["removed"] == 2


def test_an_existing_ttl_index_becomes_a_plain_one(mongo, db_prefix):
    db = mongo[db_prefix + "notifications"]
    db.deliveries.create_index([("created_at", 1)], expireAfterSeconds=30 * 86400)
    retention.plain_index(db.deliveries, "created_at")
    assert "expireAfterSeconds" not in db.deliveries.index_information()["created_at_1"]
    retention.plain_index(db.deliveries, "created_at")  # again: nothing to change


def test_feedback_clears_old_comments_and_keeps_scores_and_counts(container_factory, service_config, mongo):
    container = container_factory(FeedbackService, {**service_config, "RETAIN_COMMENTS_DAYS": 365})
    container.start()
    db = mongo[service_config["DB_PREFIX"] + "feedback"]
    survey = {"_id": "s1", "order_id": "o1", "token": "tok", "status": "closed", "responses": 4, "overall_sum": 16}
    db.surveys.insert_one(survey)
    rows = [
        ("r-old", 400, "王芳 13800000000 唱得好"),
        ("r-old-blank", 380, None),
        ("r-edge", 364, "还想再听"),
        ("r-new", 2, "很好"),
    ]
    db.responses.insert_many(
        [
            {"_id": rid, "survey_id": "s1", "at": ago(d), "overall": 4, "comment": c, "wanted_programs": ["越剧"]}
            for rid, d, c in rows
        ]
    )
    with ClusterRpcProxy(service_config) as rpc:
        swept = by_kind(rpc.feedback.sweep_now())["survey_comments"]
        assert swept["removed"] == 1  # one old answer had words; the other had none
        assert swept["oldest"] == ago(364).isoformat()
        again = by_kind(rpc.feedback.sweep_now())["survey_comments"]
        assert again["removed"] == 0
    got = {d["_id"]: d for d in db.responses.find()}
    assert len(got) == 4  # no answer deleted
    assert got["r-old"]["comment"] is None and got["r-old"]["swept_at"] is not None
    assert got["r-old-blank"]["swept_at"] is not None
    assert got["r-edge"]["comment"] == "还想再听" and got["r-new"]["comment"] == "很好"
    assert "swept_at" not in got["r-edge"] and "swept_at" not in got["r-new"]
    assert all(d["overall"] == 4 and d["wanted_programs"] == ["越剧"] for d in got.values())
    assert db.surveys.find_one({"_id": "s1"}) == survey  # counts and sums untouched


def test_accounts_lists_its_ttl_kinds_with_the_oldest_kept(container_factory, service_config, mongo):
    container = container_factory(AccountsService, service_config)
    container.start()
    db = mongo[service_config["DB_PREFIX"] + "accounts"]
    later = NOW + dt.timedelta(hours=3)
    db.sessions.insert_one({"_id": "k1", "principal": {"username": "v1"}, "expires_at": later})
    with ClusterRpcProxy(service_config) as rpc:
        kinds = by_kind(rpc.accounts.retention())
    assert set(kinds) == {"sessions", "password_resets", "sign_in_throttles", "invitations"}
    assert kinds["sessions"]["oldest"] == later.isoformat()
    assert kinds["password_resets"]["oldest"] is None
    assert all(k["days"] is None and k["removed"] is None for k in kinds.values())
    # each is removed by the database at its end
    assert db.sessions.index_information()["expires_at_1"]["expireAfterSeconds"] == 0


@pytest.mark.parametrize("batches", [3])
def test_a_sweep_goes_in_bounded_batches(mongo, db_prefix, monkeypatch, batches):
    """More old rows than one sweep takes: each sweep removes at most BATCH × ROUNDS, oldest first."""
    monkeypatch.setattr(retention, "BATCH", 5)
    monkeypatch.setattr(retention, "ROUNDS", 2)
    db = mongo[db_prefix + "notifications"]
    db.deliveries.create_index([("created_at", 1)])
    db.deliveries.insert_many([{"_id": f"d{i:02d}", "created_at": ago(100 + i)} for i in range(batches * 10 - 3)])
    db.deliveries.insert_one({"_id": "fresh", "created_at": ago(1)})
    cutoff = retention.cutoff(NOW, 30)
    removed = [retention.delete_older(db.deliveries, "created_at", cutoff) for _ in range(batches + 1)]
    assert removed == [10, 10, 7, 0]
    assert [d["_id"] for d in db.deliveries.find()] == ["fresh"]
