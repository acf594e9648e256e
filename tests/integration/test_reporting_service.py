"""reporting against the real broker and database: events in, numbers out, nothing twice, and
the projections rebuilt from the archive give the same numbers."""

import pytest
from nameko.standalone.rpc import ClusterRpcProxy

from services.reporting.service import ReportingService
from tests.helpers import publish_event, wait_until

DAY = "2026-12-05"


def t(hour: int, day: str = DAY) -> str:
    return f"{day}T{hour:02d}:00:00+08:00"


def an_order(config, reporting, order_id: str, district: str, program: str, scores: list[int], comment=None):
    snap = dict(
        order_id=order_id,
        palace_id="p1",
        enterprise_id="e1",
        program_id=program,
        program_title="劳动者之歌",
        site_address="一号车间",
        district=district,
        audience_size=200,
        windows=[{"start": t(14), "end": t(16)}],
    )

    def placed():
        return reporting.dashboard("p1", "2026-12", "2026-12")["totals"]["orders_placed"]

    before = placed()
    sent = [publish_event(config, "orders", "order_placed", occurred_at=t(8, "2026-12-01"), **snap)]
    # the other services act on an order after it is placed; here the events wait for that too
    wait_until(lambda: placed() == before + 1, what="the order placed")
    delivered = reporting.dashboard("p1", "2026-12", "2026-12")["totals"]["deliveries"]
    sent += [
        publish_event(config, "orders", "order_accepted", occurred_at=t(9, "2026-12-01"), **snap),
        publish_event(
            config,
            "dispatch",
            "offer_made",
            order_id=order_id,
            palace_id="p1",
            offer_id=f"{order_id}-a",
            volunteer_id="v1",
            skill="声乐",
            start=t(14),
            end=t(16),
            deadline=t(12, "2026-12-02"),
            rank=1,
            occurred_at=t(9, "2026-12-01"),
        ),
        publish_event(
            config,
            "dispatch",
            "order_scheduled",
            order_id=order_id,
            palace_id="p1",
            troupe_id="t1",
            start=t(14),
            end=t(16),
            crew=[{"volunteer_id": "v1", "skill": "声乐"}],
            occurred_at=t(11, "2026-12-01"),
        ),
        publish_event(
            config,
            "dispatch",
            "delivery_completed",
            order_id=order_id,
            palace_id="p1",
            enterprise_id="e1",
            program_id=program,
            program_title="劳动者之歌",
            troupe_id="t1",
            district=district,
            start=t(14),
            end=t(16),
            people_served=150,
            completed_at=t(16),
            volunteers=[{"volunteer_id": "v1", "hours": 2.0}],
            occurred_at=t(16),
        ),
    ]
    # the audience answers after the delivery (its survey opens then)
    wait_until(lambda: reporting.dashboard("p1", "2026-12", "2026-12")["totals"]["deliveries"] == delivered + 1)
    for n, score in enumerate(scores):
        sent.append(
            publish_event(
                config,
                "feedback",
                "response_received",
                survey_id=f"s-{order_id}",
                order_id=order_id,
                palace_id="p1",
                response_id=f"{order_id}-r{n}",
                overall=score,
                comment=comment if n == 0 else None,
                wanted_programs=["八段锦"],
                occurred_at=t(17),
            )
        )
    return sent


@pytest.fixture
def reporting(container_factory, service_config):
    container = container_factory(ReportingService, service_config)
    container.start()
    with ClusterRpcProxy(service_config) as rpc:
        yield rpc.reporting


def test_events_become_the_numbers_once_each_and_a_rebuild_gives_the_same(reporting, service_config):
    sent = an_order(service_config, reporting, "o1", "海宁", "song", [5, 4], comment="演得真好")
    sent += an_order(service_config, reporting, "o2", "许村", "film", [3])

    wait_until(lambda: reporting.archive_size() == len(sent), what="every event archived")
    wait_until(lambda: reporting.backlog() == 0, what="every event counted")
    report = reporting.dashboard("p1", "2026-12", "2026-12")
    totals = report["totals"]
    assert totals["orders_placed"] == 2 and totals["orders_scheduled"] == 2
    assert totals["people_served"] == 300 and totals["service_hours"] == 4.0
    assert totals["satisfaction"] == 4.0 and totals["hours_to_schedule"] == 3.0
    assert {r["key"]: r["deliveries"] for r in report["by_district"]} == {"海宁": 1, "许村": 1}
    assert {r["key"]: r["order_share"] for r in report["by_program"]} == {"song": 0.5, "film": 0.5}, report[
        "by_program"
    ]
    assert report["by_wanted"][0]["key"] == "八段锦" and report["by_wanted"][0]["wanted"] == 3
    assert reporting.dashboard("*", "2026-12", "2026-12")["totals"] == totals  # all palaces together
    assert [m["month"] for m in reporting.dashboard("p1", "2026-10", "2026-12")["months"]] == [
        "2026-10",
        "2026-11",
        "2026-12",
    ]

    # the same events delivered again change nothing
    publish_event(service_config, "orders", "order_placed", raw=sent[0])
    publish_event(service_config, "feedback", "response_received", raw=sent[-1])
    marker = an_order(
        service_config, reporting, "o3", "海宁", "song", []
    )  # a later order shows the redeliveries were seen
    wait_until(lambda: reporting.archive_size() == len(sent) + len(marker), what="every event archived")
    wait_until(lambda: reporting.backlog() == 0, what="every event counted")
    again = reporting.dashboard("p1", "2026-12", "2026-12")["totals"]
    assert again["orders_placed"] == 3 and again["responses"] == 3
    assert reporting.archive_size() == len(sent) + len(marker)

    board = reporting.volunteers("p1", "2026-12", "2026-12", 10)["items"]
    assert board[0]["volunteer_id"] == "v1" and board[0]["hours"] == 6.0 and board[0]["deliveries"] == 3
    assert reporting.volunteer_record("v1")["hours"] == 6.0
    assert [c["comment"] for c in reporting.comments("p1", 10)] == ["演得真好"]
    # a district and an enterprise last served in June are not reached for three months; the others are
    old = publish_event(
        service_config,
        "dispatch",
        "delivery_completed",
        order_id="o9",
        palace_id="p1",
        enterprise_id="e9",
        program_id="song",
        program_title="劳动者之歌",
        district="长安镇",
        start="2026-06-10T14:00:00+08:00",
        end="2026-06-10T16:00:00+08:00",
        people_served=40,
        completed_at="2026-06-10T16:00:00+08:00",
        volunteers=[],
        occurred_at="2026-06-10T16:00:00+08:00",
    )
    marker.append(old)
    wait_until(lambda: reporting.archive_size() == len(sent) + len(marker), what="the June delivery")
    wait_until(lambda: reporting.backlog() == 0, what="every event counted")
    cover = reporting.coverage("p1", 3)
    assert [r["key"] for r in cover["district"]] == ["长安镇"] and [r["key"] for r in cover["enterprise"]] == ["e9"]

    before = reporting.dashboard("p1", "2026-12", "2026-12")
    rebuilt = reporting.rebuild("test")
    assert rebuilt["events"] == len(sent) + len(marker)
    after = reporting.dashboard("p1", "2026-12", "2026-12")
    for part in before:
        assert after[part] == before[part], (
            part,
            [
                {k: (a.get(k), b.get(k)) for k in a if a.get(k) != b.get(k)}
                for a, b in zip(after[part], before[part], strict=True)
            ]
            if isinstance(after[part], list)
            else None,
        )
    assert reporting.volunteers("p1", "2026-12", "2026-12", 10)["items"] == board


def test_a_bad_month_is_a_clear_error(reporting):
    from common.errors import Invalid

    with pytest.raises(Invalid) as err:
        reporting.dashboard("p1", "2026-13", None)
    assert err.value.fields == {"start": ["月份格式应为 YYYY-MM，例如 2026-12。"]}


def test_bad_answers_in_a_burst_are_parked_with_the_reason_and_the_good_ones_counted(reporting, service_config):
    """The audience's answers are archived many per transaction; a broken one in the burst is
    parked (schema, unknown version, undecodable) and the rest are counted all the same."""
    from tests.helpers import assert_bad_events_are_dead_lettered

    reasons = assert_bad_events_are_dead_lettered(service_config, "feedback", "response_received")
    assert len(reasons) == 3
    sent = an_order(service_config, reporting, "o1", "海宁", "song", [5, 4, 3, 5])
    wait_until(lambda: reporting.archive_size() == len(sent), what="every event archived")
    wait_until(lambda: reporting.backlog() == 0, what="every event counted")
    totals = reporting.dashboard("p1", "2026-12", "2026-12")["totals"]
    assert totals["responses"] == 4 and totals["satisfaction"] == 4.25


def test_events_flagged_by_an_earlier_version_are_still_counted(mongo, db_prefix):
    """Earlier versions flagged archived events as projected or not; starting this version, the
    ones not yet counted are pending and the flag's indexes go."""
    import datetime as dt

    from pymongo import ASCENDING

    from services.reporting import repository

    db = mongo[f"{db_prefix}reporting-upgrade"]
    db.events.create_index([("occurred_at", ASCENDING), ("_id", ASCENDING)])
    db.events.create_index([("projected", ASCENDING), ("occurred_at", ASCENDING), ("_id", ASCENDING)])
    at = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    db.events.insert_many(
        [
            {
                "_id": f"e{i}",
                "source": "orders",
                "type": "x",
                "occurred_at": at + dt.timedelta(minutes=i),
                "payload": {},
                "projected": i < 3,
            }
            for i in range(5)
        ]
    )
    repository.ensure_indexes(db)
    repository.ensure_indexes(db)  # again: nothing changes
    assert [d["_id"] for d in repository.unprojected(db, 10)] == ["e3", "e4"]
    # a person's events, for their copy; the events still to be redacted, for the retention sweep
    assert set(db.events.index_information()) == {"_id_", "people_1", "redacted_at_1_occurred_at_1"}
    assert repository.claim(db, ["e3", "e4"]) == 2 and repository.count_unprojected(db) == 0
    assert repository.mark_all_unprojected(db) == 5 and repository.count_unprojected(db) == 5
