"""dispatch against the real broker and database: planning, offers, declines, no double booking."""

import datetime as dt

import eventlet
import pytest

from common.errors import Conflict, Forbidden
from tests.helpers import publish_event, wait_until
from tests.integration.conftest import accepted, offers_of


def test_an_accepted_order_gets_offers_then_a_decline_goes_to_the_next_and_acceptance_schedules(
    dispatch, service_config
):
    d, spy = dispatch
    event = accepted(service_config, "o1")
    offers = wait_until(lambda: len(offers_of(d, "o1")) == 2 and offers_of(d, "o1"), what="two offers")
    assert {o["volunteer_id"] for o in offers} == {"s1", "p1"}  # the troupe's members first
    publish_event(service_config, "orders", "order_accepted", raw=event)  # redelivered: nothing new
    singer = next(o for o in offers if o["skill"] == "声乐")
    player = next(o for o in offers if o["skill"] == "器乐")
    with pytest.raises(Forbidden):
        d.accept_offer(singer["offer_id"], {"volunteer_id": "p1"})
    d.decline_offer(singer["offer_id"], {"volunteer_id": "s1", "reason": "加班"})
    with pytest.raises(Conflict):
        d.accept_offer(singer["offer_id"], {"volunteer_id": "s1"})
    cover = wait_until(lambda: [o for o in offers_of(d, "o1") if o["skill"] == "声乐"], what="next singer")[0]
    assert cover["volunteer_id"] in {"s2", "s3"} and cover["rank"] == 2
    d.accept_offer(player["offer_id"], {"volunteer_id": "p1"})
    again = d.accept_offer(player["offer_id"], {"volunteer_id": "p1"})  # a retry after a lost reply
    assert again["status"] == "accepted"
    d.accept_offer(cover["offer_id"], {"volunteer_id": cover["volunteer_id"]})
    (scheduled,) = spy.wait_for("dispatch", "order_scheduled")
    assert sorted(c["volunteer_id"] for c in scheduled["crew"]) == sorted(["p1", cover["volunteer_id"]])
    plan = d.get_plan("o1")
    assert plan["status"] == "scheduled" and len(plan["crew"]) == 2
    assert len(spy.wait_for("dispatch", "offer_made", count=3)) == 3
    eventlet.sleep(0.5)
    assert spy.types().count("dispatch.offer_made") == 3

    start, end = plan["start"], plan["end"]
    d.check_in("o1", {"volunteer_id": "p1", "at": start})
    d.check_out("o1", {"volunteer_id": "p1", "at": end})
    with pytest.raises(Conflict):
        d.check_out("o1", {"volunteer_id": cover["volunteer_id"]})
    with pytest.raises(Forbidden):
        d.check_in("o1", {"volunteer_id": "s1"})
    d.complete_delivery("o1", {"people_served": 180})
    (done,) = spy.wait_for("dispatch", "delivery_completed")
    hours = {v["volunteer_id"]: v["hours"] for v in done["volunteers"]}
    assert hours == {"p1": 2.0, cover["volunteer_id"]: 0.0}  # the one who never checked in gets none
    assert done["people_served"] == 180 and done["program_title"] == "劳动者之歌"


def test_when_nobody_is_left_the_order_is_unfulfillable_and_everyone_is_released(
    dispatch, service_config, mongo, db_prefix
):
    d, spy = dispatch
    accepted(service_config, "o2")
    offers = wait_until(lambda: len(offers_of(d, "o2")) == 2 and offers_of(d, "o2"))
    player = next(o for o in offers if o["skill"] == "器乐")
    d.decline_offer(player["offer_id"], {"volunteer_id": player["volunteer_id"]})
    nxt = wait_until(lambda: [o for o in offers_of(d, "o2") if o["skill"] == "器乐"])[0]
    d.decline_offer(nxt["offer_id"], {"volunteer_id": nxt["volunteer_id"]})
    (event,) = spy.wait_for("dispatch", "order_unfulfillable")
    assert event["code"] == "NO_CANDIDATES" and "器乐" in event["reason"]
    assert mongo[f"{db_prefix}dispatch"].bookings.count_documents({"order_id": "o2"}) == 0
    assert offers_of(d, "o2") == []


def test_a_custom_request_without_a_program_is_reported_unfulfillable(dispatch, service_config):
    d, spy = dispatch
    accepted(service_config, "o3", program_id=None, custom_request="想请老师讲讲职工维权")
    (event,) = spy.wait_for("dispatch", "order_unfulfillable")
    assert event["code"] == "NO_PROGRAM"


def test_a_cancelled_order_withdraws_its_offers_and_frees_the_volunteers(dispatch, service_config, mongo, db_prefix):
    d, _ = dispatch
    accepted(service_config, "o4")
    wait_until(lambda: len(offers_of(d, "o4")) == 2)
    publish_event(
        service_config,
        "orders",
        "order_cancelled",
        order_id="o4",
        palace_id="haining",
        enterprise_id="jingbian",
        previous_status="accepted",
        reason="停产",
    )
    wait_until(lambda: d.get_plan("o4")["status"] == "cancelled")
    assert offers_of(d, "o4") == [] and len(offers_of(d, "o4", "withdrawn")) == 2
    assert mongo[f"{db_prefix}dispatch"].bookings.count_documents({}) == 0


def test_overlapping_orders_arriving_at_once_never_share_a_volunteer(dispatch, service_config, mongo, db_prefix):
    """Five orders for the same afternoon, planned concurrently by competing workers: at most
    two can be crewed (two players), and nobody is booked twice."""
    d, _ = dispatch
    for i in range(5):
        accepted(service_config, f"c{i}", start=14, end=16)
    db = mongo[f"{db_prefix}dispatch"]
    wait_until(lambda: db.plans.count_documents({}) == 5, timeout=60, what="five plans")
    plans = list(db.plans.find())
    planning = [p for p in plans if p["status"] == "planning"]
    assert len(planning) == 2 and sum(p["status"] == "unfulfillable" for p in plans) == 3
    live = list(db.offers.find({"status": {"$in": ["pending", "accepted"]}}))
    people = [o["volunteer_id"] for o in live]
    assert len(people) == len(set(people)) == 4
    # two hours = eight 15-minute buckets, plus half the 30-minute rest gap on each side
    assert db.bookings.count_documents({}) == 4 * 10


def test_an_offer_past_its_deadline_expires_and_moves_on(dispatch, service_config):
    d, spy = dispatch
    d.upsert_palace({"palace_id": "haining", "name": "海宁市工人文化宫", "district": "海宁", "offer_hours": 1})
    accepted(service_config, "o5")
    wait_until(lambda: len(offers_of(d, "o5")) == 2)
    assert d.expire_offers() == 0  # nothing is overdue yet
    from pymongo import MongoClient

    db = MongoClient(service_config["MONGO_URI"], tz_aware=True)[f"{service_config['DB_PREFIX']}dispatch"]
    db.offers.update_many(
        {"order_id": "o5", "skill": "器乐"},
        {"$set": {"deadline": dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)}},
    )
    assert d.expire_offers() == 1
    (event,) = spy.wait_for("dispatch", "offer_expired")
    assert event["skill"] == "器乐"
    assert [o["skill"] for o in offers_of(d, "o5")].count("器乐") == 1  # the next player was asked


def test_bad_events_are_dead_lettered_with_the_reason_and_dispatch_keeps_serving(dispatch, service_config):
    from tests.helpers import assert_bad_events_are_dead_lettered

    d, _ = dispatch
    assert_bad_events_are_dead_lettered(service_config, "orders", "order_accepted")
    accepted(service_config, "after")
    wait_until(lambda: len(offers_of(d, "after")) == 2, what="the next good event handled")


def test_the_offers_waiting_for_an_answer_are_a_metric(dispatch, service_config):
    from prometheus_client import REGISTRY, generate_latest

    d, _ = dispatch
    accepted(service_config, "o1")
    wait_until(lambda: len(offers_of(d, "o1")) == 2, what="two offers")
    text = generate_latest(REGISTRY).decode()
    assert "songwenhua_offers_pending 2.0" in text
    assert 'songwenhua_outbox_unpublished{service="dispatch"}' in text
    assert 'songwenhua_entrypoint_calls_total{entrypoint="handle_order_accepted",service="dispatch"}' in text


def test_a_crew_accepting_at_the_same_moment_still_gets_the_order_scheduled(dispatch, service_config):
    """Both accepts run at once: each transaction alone sees only its own acceptance, so
    without a write they both touch, neither would see the crew complete."""
    d, spy = dispatch
    orders = [f"same{i}" for i in range(4)]
    for i, oid in enumerate(orders):
        accepted(service_config, oid, start=8 + 3 * i, end=10 + 3 * i)
    for oid in orders:
        offers = wait_until(lambda oid=oid: len(offers_of(d, oid)) == 2 and offers_of(d, oid), what="two offers")
        replies = [
            d.accept_offer.call_async(offer["offer_id"], {"volunteer_id": offer["volunteer_id"]}) for offer in offers
        ]
        for reply in replies:
            reply.result()
    wait_until(lambda: all(d.get_plan(oid)["status"] == "scheduled" for oid in orders), what="every order scheduled")
    assert len(spy.wait_for("dispatch", "order_scheduled", count=4)) == 4
