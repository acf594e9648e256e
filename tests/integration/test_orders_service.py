"""orders against the real broker and database: RPC, outbox to the bus, reactions to events."""

import datetime as dt

import pytest
from nameko.standalone.rpc import ClusterRpcProxy

from common.errors import Conflict, Invalid, NotFound
from services.orders.service import OrdersService
from tests.helpers import BusSpy, dead_letters, publish_event, wait_until

CN = dt.timezone(dt.timedelta(hours=8))
DAY = dt.datetime.combine(dt.datetime.now(CN).date() + dt.timedelta(days=4), dt.time(0), CN)  # past the lead time


def at(hour: float, days: int = 0) -> str:
    return (DAY + dt.timedelta(days=days, hours=hour)).isoformat()


WINDOW = {"start": at(14), "end": at(18)}


def order_payload(**over):
    return {
        "enterprise_id": "ent1",
        "palace_id": "p1",
        "program_id": "prog1",
        "site_address": "海宁经编园区 3 号厂房",
        "district": "海宁",
        "audience_size": 300,
        "windows": [WINDOW],
        "contact_name": "王芳",
        "contact_phone": "13800000000",
        **over,
    }


def scheduled(config, order_id):
    """dispatch reports the order scheduled, as its relay would."""
    publish_event(
        config,
        "dispatch",
        "order_scheduled",
        order_id=order_id,
        palace_id="p1",
        troupe_id="t1",
        start="2026-12-05T14:00:00+08:00",
        end="2026-12-05T16:00:00+08:00",
        crew=[{"volunteer_id": "v1", "skill": "声乐"}],
    )


@pytest.fixture
def orders(container_factory, service_config):
    container = container_factory(OrdersService, service_config)
    container.start()
    spy = BusSpy(service_config)
    with ClusterRpcProxy(service_config) as rpc:
        rpc.orders.register_enterprise(
            {"enterprise_id": "ent1", "palace_id": "p1", "name": "海宁经编公司工会", "district": "海宁"}
        )
        yield rpc.orders, spy, container
    spy.close()


def test_placing_an_order_stores_it_and_publishes_order_placed(orders, mongo, db_prefix):
    rpc, spy, _ = orders
    order = rpc.place_order(order_payload(), program_title="劳动者之歌")
    assert order["status"] == "submitted"
    assert order["enterprise_name"] == "海宁经编公司工会"
    (event,) = spy.wait_for("orders", "order_placed")
    assert event["order_id"] == order["order_id"]
    assert event["version"] == 1 and event["event_id"]
    doc = mongo[f"{db_prefix}orders"].orders.find_one({"_id": order["order_id"]})
    assert doc["status"] == "submitted"
    outbox = mongo[f"{db_prefix}orders"].outbox.find_one({"_id": event["event_id"]})
    assert outbox is None or outbox["event_type"] == "order_placed"
    # taken out of the outbox once the broker confirmed it
    wait_until(lambda: mongo[f"{db_prefix}orders"].outbox.find_one({"_id": event["event_id"]}) is None)


def test_bad_input_is_refused_with_chinese_field_messages_and_nothing_stored(orders, mongo, db_prefix):
    rpc, _, _ = orders
    with pytest.raises(Invalid) as err:
        rpc.place_order(order_payload(audience_size=-5, windows=[], extra={"$gt": ""}))
    fields = err.value.fields
    assert "audience_size" in fields and "windows" in fields and "extra" in fields
    assert "整数" in fields["audience_size"][0]
    assert mongo[f"{db_prefix}orders"].orders.count_documents({}) == 0


def test_an_illegal_transition_is_refused_and_not_applied(orders):
    rpc, _, _ = orders
    order = rpc.place_order(order_payload())
    rpc.reject_order(order["order_id"], {"reason": "档期已满"}, palace_id="p1")
    with pytest.raises(Conflict) as err:
        rpc.accept_order(order["order_id"], {}, palace_id="p1")
    assert err.value.code == "ILLEGAL_TRANSITION"
    assert rpc.get_order(order["order_id"])["status"] == "rejected"


def test_unknown_order_is_not_found(orders):
    rpc, _, _ = orders
    with pytest.raises(NotFound):
        rpc.get_order("nope")


def test_order_follows_dispatch_and_feedback_events_to_closed_once(orders, service_config):
    rpc, spy, _ = orders
    order = rpc.place_order(order_payload())
    oid = order["order_id"]
    rpc.accept_order(oid, {"note": "安排艺术团"}, palace_id="p1")
    scheduled(service_config, oid)
    wait_until(lambda: rpc.get_order(oid)["status"] == "scheduled")
    publish_event(
        service_config,
        "dispatch",
        "delivery_completed",
        order_id=oid,
        palace_id="p1",
        enterprise_id="ent1",
        district="海宁",
        start="2026-12-05T14:00:00+08:00",
        end="2026-12-05T16:00:00+08:00",
        people_served=280,
        completed_at="2026-12-05T16:00:00+08:00",
        volunteers=[{"volunteer_id": "v1", "hours": 2.0}],
    )
    wait_until(lambda: rpc.get_order(oid)["status"] == "delivered")
    closed = dict(
        survey_id="s1",
        order_id=oid,
        palace_id="p1",
        responses=2,
        satisfaction=4.5,
        aspects={"content": 4.0, "performers": 5.0, "organisation": None},
        wanted_programs=[{"program": "八段锦", "count": 2}],
    )
    event = publish_event(service_config, "feedback", "survey_closed", **closed)
    publish_event(service_config, "feedback", "survey_closed", raw=event)  # redelivered: no effect
    wait_until(lambda: rpc.get_order(oid)["status"] == "closed")
    final = rpc.get_order(oid)
    assert final["satisfaction"] == 4.5 and final["people_served"] == 280
    assert [h["status"] for h in final["history"]] == ["submitted", "accepted", "scheduled", "delivered", "closed"]
    assert len(spy.wait_for("orders", "order_closed")) == 1


def test_a_malformed_event_is_dead_lettered_and_the_service_keeps_serving(orders, service_config):
    rpc, _, _ = orders
    publish_event(service_config, "dispatch", "order_scheduled", raw={"event_id": "x", "version": 1, "order_id": 5})
    publish_event(service_config, "dispatch", "order_scheduled", raw={"event_id": "y", "version": 99})
    letters = wait_until(lambda: len(dead_letters(service_config)) >= 2 and dead_letters(service_config))
    reasons = " ".join(h["reason"] for h, _ in letters)
    assert "contract" in reasons and "version 99" in reasons
    assert rpc.place_order(order_payload())["status"] == "submitted"


def test_the_same_form_sent_twice_places_one_order(orders, mongo, db_prefix, service_config):
    import eventlet

    rpc, spy, _ = orders

    def place():
        with ClusterRpcProxy(service_config) as own:
            return own.orders.place_order(order_payload(client_ref="form-42"))

    pool = eventlet.GreenPool()
    results = [pool.spawn(place) for _ in range(4)]
    ids = {r.wait()["order_id"] for r in results}
    assert len(ids) == 1
    assert mongo[f"{db_prefix}orders"].orders.count_documents({"client_ref": "form-42"}) == 1
    assert rpc.place_order(order_payload(client_ref="form-43"))["order_id"] not in ids
    assert rpc.place_order(order_payload())["order_id"] != rpc.place_order(order_payload())["order_id"]


def test_an_order_is_amended_before_scheduling_and_refused_after(orders, service_config):
    rpc, spy, _ = orders
    order = rpc.place_order(order_payload())
    oid = order["order_id"]
    amended = rpc.amend_order(oid, {"audience_size": 450, "site_address": "新食堂二楼"}, enterprise_id="ent1")
    assert amended["audience_size"] == 450
    (event,) = spy.wait_for("orders", "order_amended")
    assert event["changed"] == ["audience_size", "site_address"] and event["audience_size"] == 450
    with pytest.raises(Invalid):
        rpc.amend_order(oid, {})
    from common.errors import Forbidden

    with pytest.raises(Forbidden):
        rpc.amend_order(oid, {"audience_size": 10}, enterprise_id="someone-else")
    rpc.accept_order(oid, {}, palace_id="p1")
    scheduled(service_config, oid)
    wait_until(lambda: rpc.get_order(oid)["status"] == "scheduled")
    with pytest.raises(Conflict) as err:
        rpc.amend_order(oid, {"audience_size": 500})
    assert err.value.code == "NOT_AMENDABLE"
    cancelled = rpc.cancel_order(oid, {"reason": "停产检修"})
    assert cancelled["status"] == "cancelled"
    (event,) = spy.wait_for("orders", "order_cancelled")
    assert event["previous_status"] == "scheduled"


def test_orders_are_listed_by_enterprise_palace_and_status_newest_first_in_pages(orders):
    rpc, _, _ = orders
    rpc.register_enterprise(
        {"enterprise_id": "ent2", "palace_id": "p2", "name": "青岛港务集团工会", "district": "市南区"}
    )
    mine = [rpc.place_order(order_payload())["order_id"] for _ in range(5)]
    rpc.place_order(order_payload(enterprise_id="ent2", palace_id="p2"))
    rpc.reject_order(mine[0], {"reason": "满了"})
    page1 = rpc.list_orders({"enterprise_id": "ent1", "per_page": 2})
    page3 = rpc.list_orders({"enterprise_id": "ent1", "per_page": 2, "page": 3})
    assert page1["total"] == 5 and [o["order_id"] for o in page1["items"]] == mine[::-1][:2]
    assert [o["order_id"] for o in page3["items"]] == [mine[0]]
    assert rpc.list_orders({"palace_id": "p2"})["total"] == 1
    assert [o["order_id"] for o in rpc.list_orders({"status": "rejected"})["items"]] == [mine[0]]
    assert rpc.list_orders({"palace_id": "p1", "status": "submitted"})["total"] == 4
    with pytest.raises(Invalid):
        rpc.list_orders({"status": "lost", "per_page": 1000})


def test_a_recurring_order_places_the_series_once_even_when_sent_twice(orders):
    o, _, _ = orders
    series = {k: v for k, v in order_payload().items() if k != "windows"}
    series.update(first_window=WINDOW, rrule="FREQ=WEEKLY;COUNT=8")
    first = o.place_recurring(series, program_title="八段锦")
    again = o.place_recurring(series, program_title="八段锦")
    assert len(first) == 8 and [x["order_id"] for x in again] == [x["order_id"] for x in first]
    assert len({x["series_id"] for x in first}) == 1
    starts = [x["windows"][0]["start"] for x in first]
    assert starts == sorted(starts) and len(set(starts)) == 8
    listed = o.list_orders({"enterprise_id": "ent1", "per_page": 100})
    assert listed["total"] == 8
    assert not any(x["urgent"] for x in first) and all(x["placed_by"] is None for x in first)
    # placed by the palace for the union: every order of the series says so
    by = {"username": "disp1", "role": "dispatcher"}
    urgent = o.place_recurring({**series, "rrule": "FREQ=WEEKLY;COUNT=2"}, rules={"urgent": True}, placed_by=by)
    assert [(x["urgent"], x["placed_by"]) for x in urgent] == [(True, by), (True, by)]
    with pytest.raises(Invalid):
        o.place_order(order_payload(), placed_by={"username": "x", "role": "volunteer"})
    with pytest.raises(Invalid) as err:
        o.place_recurring({**series, "rrule": "FREQ=WEEKLY"})
    assert "rrule" in err.value.fields
