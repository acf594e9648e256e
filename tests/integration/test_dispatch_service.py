"""dispatch against the real broker and database: planning, offers, declines, no double booking."""

import datetime as dt

import eventlet
import pytest

from common.errors import Conflict, Forbidden, Invalid
from tests.helpers import publish_event, wait_until
from tests.integration.conftest import CST, FREE, accepted, iso, offers_of


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
    d.complete_delivery("o1", {"people_served": 180, "at": end})
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
    assert 'songwenhua_entrypoint_calls_total{entrypoint="on_palace_event",service="dispatch"}' in text


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


# ---------------------------------------------------------------- the day of the delivery


def scheduled(d, service_config, order_id, start=14, end=18):
    """An order whose crew accepted (the troupe's singer and player)."""
    accepted(service_config, order_id, start=start, end=end)
    for o in wait_until(lambda: len(offers_of(d, order_id)) == 2 and offers_of(d, order_id), what="offers"):
        d.accept_offer(o["offer_id"], {"volunteer_id": o["volunteer_id"]})
    return wait_until(lambda: (p := d.get_plan(order_id))["status"] == "scheduled" and p, what="scheduled")


def china(text):
    at = dt.datetime.fromisoformat(text).astimezone(CST)
    return f"{at.month} 月 {at.day} 日 {at:%H:%M}"


@pytest.mark.parametrize("day_clock", ["real"])
def test_completion_a_week_before_the_slot_is_refused_and_changes_nothing(dispatch, service_config):
    d, spy = dispatch
    week = 4 * 24  # DAY is three days ahead: its 14:00 plus four days is a week away
    for vid in ("s1", "s2", "s3", "p1", "p2"):
        d.set_availability(vid, {"availability": [*FREE, {"start": iso(week + 8), "end": iso(week + 21)}]})
    plan = scheduled(d, service_config, "w1", start=week + 14, end=week + 16)
    assert dt.datetime.fromisoformat(plan["start"]) - dt.datetime.now(CST) > dt.timedelta(days=6, hours=12)
    for body in ({"people_served": 100}, {"people_served": 100, "reason": "现场代签", "at": plan["end"]}):
        with pytest.raises(Conflict) as err:  # a recorded time does not stand for the real clock
            d.complete_delivery("w1", body)
        assert err.value.code == "NOT_STARTED"
        assert err.value.message == f"服务 {china(plan['start'])} 才开始，开始后才能记录服务完成。"
    after = d.get_plan("w1")
    assert after["status"] == "scheduled" and after["hours"] == [] and after.get("people_served") is None
    eventlet.sleep(0.5)
    assert "dispatch.delivery_completed" not in spy.types()


@pytest.mark.parametrize("day_clock", ["real"])
def test_check_in_before_it_opens_is_refused_with_when_it_opens(dispatch, service_config):
    d, _ = dispatch
    plan = scheduled(d, service_config, "c1")
    opens = (dt.datetime.fromisoformat(plan["start"]) - dt.timedelta(hours=1)).isoformat()
    (mine,) = d.list_offers("s1", "accepted")
    assert dt.datetime.fromisoformat(mine["check_in_opens_at"]) == dt.datetime.fromisoformat(opens)
    for body, staff in (({"volunteer_id": "s1", "code": plan["sign_in_code"]}, False), ({"volunteer_id": "p1"}, True)):
        with pytest.raises(Conflict) as err:
            d.check_in("c1", body, staff=staff)
        assert err.value.code == "CHECK_IN_NOT_OPEN"
        assert err.value.message == f"签到将于 {china(opens)} 开放。"
    assert d.get_plan("c1")["attendance"] == []


def test_completion_with_nobody_checked_in_needs_a_reason_and_then_counts_no_hours(dispatch, service_config):
    d, spy = dispatch
    plan = scheduled(d, service_config, "n1")
    with pytest.raises(Invalid) as err:
        d.complete_delivery("n1", {"people_served": 150, "at": plan["end"]})
    assert err.value.code == "REASON_REQUIRED"
    assert err.value.fields == {"reason": ["没有志愿者签到，请说明原因（例如：现场代签未登记）。"]}
    assert d.get_plan("n1")["status"] == "scheduled"
    done = d.complete_delivery("n1", {"people_served": 150, "at": plan["end"], "reason": "现场纸质签到，未在系统登记"})
    assert done["status"] == "delivered"
    rows = {r["volunteer_id"]: r for r in done["hours"]}
    assert set(rows) == {"s1", "p1"}
    assert all(
        (r["hours"], r["hours_reason"], r["hours_reason_text"]) == (0.0, "not_checked_in", "未签到")
        for r in rows.values()
    )
    (event,) = [e for e in spy.wait_for("dispatch", "delivery_completed") if e["order_id"] == "n1"]
    assert {v["volunteer_id"]: v["hours"] for v in event["volunteers"]} == {"s1": 0.0, "p1": 0.0}
    item = d.volunteer_hours("s1")["items"][0]
    assert (item["order_id"], item["hours"], item["hours_reason"]) == ("n1", 0.0, "not_checked_in")


def test_a_check_out_seconds_after_check_in_counts_nothing_and_says_why(dispatch, service_config):
    d, _ = dispatch
    plan = scheduled(d, service_config, "h1")
    start = dt.datetime.fromisoformat(plan["start"])
    d.check_in("h1", {"volunteer_id": "s1", "at": start.isoformat()})
    d.check_out("h1", {"volunteer_id": "s1", "at": (start + dt.timedelta(seconds=10)).isoformat()})
    d.check_in("h1", {"volunteer_id": "p1", "at": start.isoformat()})
    d.check_out("h1", {"volunteer_id": "p1", "at": plan["end"]})
    before = {a["volunteer_id"]: a for a in d.get_plan("h1")["attendance"]}  # shown before completion
    assert (before["s1"]["hours"], before["s1"]["hours_reason"]) == (0.0, "short")
    assert before["s1"]["hours_reason_text"] == "出勤不足 50%，未计时长"
    slot = (dt.datetime.fromisoformat(plan["end"]) - start).total_seconds() / 3600  # the program's two hours
    assert (before["p1"]["hours"], before["p1"]["hours_reason"]) == (slot, None)
    done = d.complete_delivery("h1", {"people_served": 150, "at": plan["end"]})  # someone checked in: no reason
    after = {a["volunteer_id"]: a for a in done["attendance"]}
    assert (after["s1"]["hours"], after["s1"]["hours_reason"], after["p1"]["hours"]) == (0.0, "short", slot)
    item = d.volunteer_hours("s1")["items"][0]
    assert (item["hours"], item["hours_reason"], item["hours_reason_text"]) == (0.0, "short", "出勤不足 50%，未计时长")
    assert d.volunteer_hours("p1")["items"][0]["hours_reason"] is None
