"""The dispatch engine against the real broker and database: explanations, rest gaps and limits
held by the database, batch re-planning, hand-overs, no-show cover, overrides and hours."""

import datetime as dt

import pytest
from pymongo import MongoClient

from common.errors import Conflict, NotFound
from tests.helpers import wait_until
from tests.integration.conftest import DAY, accepted, iso, offers_of


def status(d, order_id):
    try:
        return d.get_plan(order_id)["status"]
    except NotFound:
        return None


def live(d, order_id):
    return [o for o in d.get_plan(order_id)["offers"] if o["status"] in ("pending", "accepted")]


def accept_all(d, order_id):
    for o in offers_of(d, order_id):
        d.accept_offer(o["offer_id"], {"volunteer_id": o["volunteer_id"]})
    wait_until(lambda: d.get_plan(order_id)["status"] == "scheduled", what="scheduled")


def db_of(config):
    return MongoClient(config["MONGO_URI"], tz_aware=True)[f"{config['DB_PREFIX']}dispatch"]


def test_every_offer_says_why_this_person_and_why_not_the_others(dispatch, service_config):
    d, _ = dispatch
    accepted(service_config, "e1")
    offers = wait_until(lambda: len(offers_of(d, "e1")) == 2 and offers_of(d, "e1"), what="two offers")
    plan = d.get_plan("e1")
    assert plan["explanation"]["troupe_id"] == "art"
    singer = next(o for o in offers if o["skill"] == "声乐")
    assert singer["volunteer_id"] == "s1" and singer["kind"] == "plan"
    why = singer["explanation"]
    assert why["score"]["criteria"]["troupe"] > 0  # a member of the troupe sent
    assert {r["volunteer_id"] for r in why["runners_up"]} == {"s2", "s3"}
    assert all(r["lost_on"] == "troupe" for r in why["runners_up"])


def test_the_database_keeps_the_rest_gap_and_the_weekly_limit(dispatch, service_config):
    d, _ = dispatch
    d.upsert_palace(
        {
            "palace_id": "haining",
            "name": "海宁市工人文化宫",
            "district": "海宁",
            "rules": {"rest_minutes": 60, "week_deliveries": 1},
        }
    )
    accepted(service_config, "r1", start=9, end=11)
    wait_until(lambda: len(offers_of(d, "r1")) == 2, what="offers for r1")
    first = {o["volunteer_id"] for o in offers_of(d, "r1")}
    # the same afternoon: everybody already asked has used the week's one delivery
    accepted(service_config, "r2", start=15, end=17)
    wait_until(lambda: status(d, "r2") in ("planning", "unfulfillable"), what="r2 planned")
    second = {o["volunteer_id"] for o in offers_of(d, "r2")}
    assert not first & second
    # once more in the evening: only one singer is left, and no player (the limit is 1 a week)
    accepted(service_config, "r3", start=19, end=21)
    plan = wait_until(lambda: status(d, "r3") == "unfulfillable" and d.get_plan("r3"), what="r3")
    assert "本周服务次数已满" in plan["reason"]
    db = db_of(service_config)
    week = next(k["_id"] for k in db.loads.find({"_id": {"$regex": "^v:s1:.*-W"}}))
    assert db.loads.find_one({"_id": week})["n"] == 1
    # a booking that breaks the rest gap is refused by the unique key itself
    offer = offers_of(d, "r1")[0]
    pad = dt.timedelta(minutes=30)
    from services.dispatch import domain

    clash = domain.buckets(dt.datetime.fromisoformat(offer["end"]), dt.datetime.fromisoformat(offer["end"]) + pad)
    assert db.bookings.count_documents({"volunteer_id": offer["volunteer_id"], "bucket": {"$in": list(clash)}}) == 2


def test_a_dispatcher_override_keeps_the_hard_rules(dispatch, service_config):
    d, _ = dispatch
    accepted(service_config, "x1")
    offers = wait_until(lambda: len(offers_of(d, "x1")) == 2 and offers_of(d, "x1"), what="offers")
    singer = next(o for o in offers if o["skill"] == "声乐")
    mine = d.assign("x1", {"volunteer_id": "s3", "skill": "声乐", "replaces_offer_id": singer["offer_id"]}, by="disp")
    assert mine["kind"] == "override" and mine["explanation"]["override"] is True
    assert {o["volunteer_id"] for o in live(d, "x1")} == {"s3", "p1"}
    with pytest.raises(Conflict) as err:  # no such skill
        d.assign("x1", {"volunteer_id": "p2", "skill": "声乐"}, by="disp")
    assert "技能" in err.value.message
    accepted(service_config, "x2")  # same afternoon: p2 gets the player's role of x2
    wait_until(lambda: len(offers_of(d, "x2")) >= 1, what="x2 offers")
    busy = next(o for o in offers_of(d, "x2") if o["skill"] == "器乐")["volunteer_id"]
    with pytest.raises(Conflict) as err:  # already booked that afternoon
        d.assign("x1", {"volunteer_id": busy, "skill": "器乐"}, by="disp")
    assert "已有安排" in err.value.message or "间隔" in err.value.message


def test_a_volunteer_hands_an_assignment_to_a_colleague_who_accepts(dispatch, service_config):
    d, spy = dispatch
    accepted(service_config, "h1")
    wait_until(lambda: len(offers_of(d, "h1")) == 2, what="offers")
    accept_all(d, "h1")
    mine = next(o for o in live(d, "h1") if o["volunteer_id"] == "s1")
    with pytest.raises(Conflict):  # p2 cannot sing
        d.propose_swap(mine["offer_id"], {"volunteer_id": "s1", "to_volunteer_id": "p2"})
    swap = d.propose_swap(mine["offer_id"], {"volunteer_id": "s1", "to_volunteer_id": "s2"})
    assert swap["kind"] == "swap" and swap["replaces_offer_id"] == mine["offer_id"]
    d.accept_offer(swap["offer_id"], {"volunteer_id": "s2"})
    (event,) = spy.wait_for("dispatch", "assignment_handed_over")
    assert (event["from_volunteer_id"], event["to_volunteer_id"]) == ("s1", "s2")
    plan = d.get_plan("h1")
    assert plan["status"] == "scheduled" and {c["volunteer_id"] for c in plan["crew"]} == {"s2", "p1"}
    statuses = {o["volunteer_id"]: o["status"] for o in plan["offers"]}
    assert statuses["s1"] == "handed_over"
    assert db_of(service_config).bookings.count_documents({"volunteer_id": "s1"}) == 0


def test_a_no_show_is_recorded_covered_and_can_be_cleared(dispatch, service_config):
    d, spy = dispatch
    accepted(service_config, "n1")
    wait_until(lambda: len(offers_of(d, "n1")) == 2, what="offers")
    accept_all(d, "n1")
    record = d.report_no_show("n1", {"volunteer_id": "s1", "reason": "电话未接通"}, by="disp")
    assert record["reason"] == "电话未接通" and record["cover_offer_id"]
    (event,) = spy.wait_for("dispatch", "volunteer_no_show")
    assert event["cover_offer_id"] == record["cover_offer_id"]
    cover = next(o for o in d.get_plan("n1")["offers"] if o["offer_id"] == record["cover_offer_id"])
    assert cover["kind"] == "cover" and cover["volunteer_id"] in {"s2", "s3"}
    d.accept_offer(cover["offer_id"], {"volunteer_id": cover["volunteer_id"]})
    plan = d.get_plan("n1")
    assert {c["volunteer_id"] for c in plan["crew"]} == {cover["volunteer_id"], "p1"}
    assert [n["volunteer_id"] for n in plan["no_shows"]] == ["s1"]
    assert [n["no_show_id"] for n in d.list_no_shows("haining")] == [record["no_show_id"]]
    cleared = d.clear_no_show(record["no_show_id"], {"reason": "确认是交通管制"})
    assert cleared["cleared"] and cleared["cleared_reason"] == "确认是交通管制"
    with pytest.raises(Conflict):
        d.clear_no_show(record["no_show_id"], {"reason": "再撤一次"})


def test_hours_count_by_the_palace_rules_and_granted_hours_stay_apart(dispatch, service_config):
    d, spy = dispatch
    d.upsert_palace(
        {
            "palace_id": "haining",
            "name": "海宁市工人文化宫",
            "district": "海宁",
            "rules": {"min_attendance_share": 0.5, "hours_basis": "scheduled"},
        }
    )
    accepted(service_config, "g1", start=14, end=16)
    wait_until(lambda: len(offers_of(d, "g1")) == 2, what="offers")
    accept_all(d, "g1")
    d.check_in("g1", {"volunteer_id": "s1", "at": iso(13.75)})
    d.check_out("g1", {"volunteer_id": "s1", "at": iso(16.25)})
    d.check_in("g1", {"volunteer_id": "p1", "at": iso(15.5)})  # came for the last half hour
    grant = d.grant_hours("g1", {"volunteer_id": "p1", "hours": 1.5, "reason": "提前搬运设备"}, by="disp")
    assert grant["granted_by"] == "disp"
    d.complete_delivery("g1", {"people_served": 120, "at": iso(16.5)})
    event = next(e for e in spy.wait_for("dispatch", "delivery_completed") if e["order_id"] == "g1")
    hours = {v["volunteer_id"]: (v["hours"], v["granted_hours"]) for v in event["volunteers"]}
    assert hours == {"s1": (2.0, 0.0), "p1": (0.0, 1.5)}


def test_a_batch_replan_keeps_accepted_offers_and_plans_the_rest_together(dispatch, service_config):
    d, _ = dispatch
    d.upsert_palace(
        {"palace_id": "haining", "name": "海宁市工人文化宫", "district": "海宁", "rules": {"week_deliveries": 5}}
    )
    accepted(service_config, "b1", start=9, end=11)
    wait_until(lambda: len(offers_of(d, "b1")) == 2, what="b1 offers")
    kept = offers_of(d, "b1")[0]
    d.accept_offer(kept["offer_id"], {"volunteer_id": kept["volunteer_id"]})
    for oid, h in (("b2", 14), ("b3", 14)):
        accepted(service_config, oid, start=h, end=h + 2)
    wait_until(lambda: all(status(d, o) == "planning" for o in ("b2", "b3")), what="b2, b3 planned")
    before = {o["offer_id"] for oid in ("b1", "b2", "b3") for o in live(d, oid)}
    out = d.replan("haining", {"start": (DAY - dt.timedelta(days=1)).isoformat(), "end": iso(48)})
    assert out["orders"] == 3 and out["planned"] == 3 and out["kept_accepted"] == 1
    after = {oid: live(d, oid) for oid in ("b1", "b2", "b3")}
    assert kept["offer_id"] in {o["offer_id"] for o in after["b1"]}  # not disturbed
    assert all(len(v) == 2 for v in after.values())
    assert not ({o["offer_id"] for v in after.values() for o in v} - {kept["offer_id"]}) & before
    people = [o["volunteer_id"] for oid in ("b2", "b3") for o in after[oid]]
    assert len(people) == len(set(people))  # the same afternoon: nobody twice
    again = d.replan(
        "haining", {"start": (DAY - dt.timedelta(days=1)).isoformat(), "end": iso(48), "include_accepted": True}
    )
    assert again["kept_accepted"] == 0
    assert kept["offer_id"] not in {o["offer_id"] for o in live(d, "b1")}


def test_the_nightly_replan_is_claimed_once_per_palace_and_night(dispatch, service_config):
    from services.dispatch import repository

    db = db_of(service_config)
    assert repository.claim_nightly(db, "haining", "2026-12-01") is True
    assert repository.claim_nightly(db, "haining", "2026-12-01") is False  # another process, same night
    assert repository.claim_nightly(db, "haining", "2026-12-02") is True


def test_a_volunteer_checks_in_with_the_code_shown_on_site(dispatch, service_config):
    d, _ = dispatch
    accepted(service_config, "k1")
    wait_until(lambda: len(offers_of(d, "k1")) == 2, what="offers")
    accept_all(d, "k1")
    code = d.get_plan("k1")["sign_in_code"]
    assert len(code) == 6 and code.isdigit()
    with pytest.raises(Conflict) as err:
        d.check_in("k1", {"volunteer_id": "s1", "at": iso(14)}, staff=False)
    assert err.value.code == "BAD_SIGN_IN_CODE"
    assert d.check_in("k1", {"volunteer_id": "s1", "code": code, "at": iso(14)}, staff=False)["checked_in_at"]
    assert d.check_in("k1", {"volunteer_id": "p1", "at": iso(14)})["checked_in_at"]  # signed in by hand


def test_a_large_palace_reads_a_shortlist_first_and_everyone_when_the_shortlist_cannot_staff(
    dispatch, service_config, monkeypatch
):
    """The candidates most likely to be chosen are read first (here one per skill: the troupe's
    members); an order they cannot staff, because they are busy then, is planned with all."""
    from services.dispatch.handlers import candidates

    monkeypatch.setattr(candidates, "SHORTLIST", 1)
    d, _ = dispatch
    accepted(service_config, "L1")
    first = wait_until(lambda: len(offers_of(d, "L1")) == 2 and offers_of(d, "L1"), what="offers for L1")
    assert {o["volunteer_id"] for o in first} == {"s1", "p1"}  # the troupe's members, read first
    assert all(o["explanation"]["runners_up"] == [] for o in first)  # nobody else was read
    singer = next(o for o in first if o["skill"] == "声乐")
    d.decline_offer(singer["offer_id"], {"volunteer_id": "s1", "reason": "出差"})
    wait_until(
        lambda: {o["volunteer_id"] for o in offers_of(d, "L1") if o["skill"] == "声乐"} & {"s2", "s3"},
        what="the next singer, from outside the first shortlist",
    )
    accepted(service_config, "L2")  # the same afternoon: the two asked are held, so all are read
    second = wait_until(lambda: len(offers_of(d, "L2")) == 2 and offers_of(d, "L2"), what="offers for L2")
    held = {o["volunteer_id"] for o in offers_of(d, "L1")}
    assert {o["volunteer_id"] for o in second} & held == set() and "p2" in {o["volunteer_id"] for o in second}


def test_a_change_to_a_volunteer_is_seen_by_the_next_plan(dispatch, service_config):
    """Each dispatch process keeps the palace's volunteers in memory; any change moves the
    palace's directory version, so the next plan reads them again."""
    d, _ = dispatch
    accepted(service_config, "c1", start=9, end=11)
    first = wait_until(lambda: len(offers_of(d, "c1")) == 2 and offers_of(d, "c1"), what="offers for c1")
    assert "s1" in {o["volunteer_id"] for o in first}  # the troupe's singer, read and kept
    d.set_availability("s1", {"availability": [{"start": iso(8), "end": iso(12)}]})  # mornings only now
    accepted(service_config, "c2", start=14, end=18)
    second = wait_until(lambda: len(offers_of(d, "c2")) == 2 and offers_of(d, "c2"), what="offers for c2")
    assert "s1" not in {o["volunteer_id"] for o in second}
    version = db_of(service_config).directory.find_one({"_id": "haining"})["version"]
    assert version == 6  # five volunteers written by the fixture, then one change


def test_a_clash_on_a_unique_key_is_a_duplicate_key_error_for_the_callers_that_retry(service_config):
    """Held time and counted loads are written several documents in one statement; a clash still
    raises DuplicateKeyError, on which the callers run the use case again (a BulkWriteError would
    pass them by), and the statement that clashed leaves nothing behind."""
    from pymongo.errors import DuplicateKeyError

    from common.store import Store
    from services.dispatch import repository

    client = MongoClient(service_config["MONGO_URI"], tz_aware=True)
    name = f"{service_config['DB_PREFIX']}dispatch"
    store = Store(client, name, "dispatch", service_config["AMQP_URI"], service_config)
    start = dt.datetime(2026, 12, 9, 6, 0, tzinfo=dt.UTC)
    offer = {
        "offer_id": "x1",
        "order_id": "ox",
        "volunteer_id": "vx",
        "start": start,
        "end": start + dt.timedelta(hours=1),
    }
    store.transaction(lambda uow: repository.book(uow, offer))
    later = {**offer, "offer_id": "x2", "start": offer["end"], "end": offer["end"] + dt.timedelta(hours=1)}
    with pytest.raises(DuplicateKeyError):  # 30 minutes of rest on each side overlap the first
        store.transaction(lambda uow: repository.book(uow, {**later, "pad_minutes": 30}))
    assert store.db.bookings.count_documents({"volunteer_id": "vx"}) == 4  # the first hour only

    week, month = "v:vx:2026-W50", "v:vx:2026-12"
    store.transaction(lambda uow: repository.take_loads(uow, [(week, 1, 1), (month, 60, 600)]))
    with pytest.raises(DuplicateKeyError):  # the week's one delivery is used
        store.transaction(lambda uow: repository.take_loads(uow, [(month, 60, 600), (week, 1, 1)]))
    assert {d["_id"]: d["n"] for d in store.db.loads.find({"_id": {"$in": [week, month]}})} == {week: 1, month: 60}
    client.close()


def test_the_order_form_is_told_which_dates_can_be_staffed_and_nothing_is_held(dispatch, service_config):
    d, _ = dispatch
    db = db_of(service_config)
    # everyone is free on DAY only (three days ahead, past the lead time): one window, that day
    found = d.staffable_windows("haining", "song", "海宁", 1)
    assert [dt.datetime.fromisoformat(w["start"]).astimezone(DAY.tzinfo).date() for w in found] == [DAY.date()]
    (w,) = found
    assert w["start"] <= w["slot_start"] < w["slot_end"] <= w["end"]
    assert w["margin"] == 2.0 and w["troupe_id"] == "art"  # two players for one place, three singers
    assert db.bookings.count_documents({}) == 0 and db.loads.count_documents({}) == 0  # read only
    # an order placed in the suggested window is planned
    accepted(service_config, "sw1", start=0, end=0, windows=[{"start": w["start"], "end": w["end"]}])
    wait_until(lambda: len(offers_of(d, "sw1")) == 2, what="offers for the suggested window")
    with pytest.raises(Exception, match="不属于所选文化宫|找不到这个节目"):
        d.staffable_windows("haining", "nothing", "海宁", 1)
