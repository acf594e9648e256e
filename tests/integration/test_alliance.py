"""Troupes lent across an alliance of palaces (队伍联用), against the real broker and database:
Haining (the small palace of the conftest) shares its opera troupe; Qingdao has nobody who sings
opera, asks to borrow the troupe for an order, and Haining approves or refuses."""

import datetime as dt

import pytest
from pymongo import MongoClient

from common.errors import Conflict, Forbidden, Invalid
from tests.helpers import publish_event, wait_until
from tests.integration.conftest import FREE, accepted, iso, offers_of


def status(d, order_id):
    try:
        return d.get_plan(order_id)["status"]
    except Exception:
        return None


@pytest.fixture
def alliance(dispatch):
    d, spy = dispatch
    d.upsert_palace({"palace_id": "qingdao", "name": "青岛市工人文化宫", "district": "市南"})
    for palace, program in (("qingdao", "q-opera"), ("haining", "h-opera")):
        d.upsert_program(
            {
                "program_id": program,
                "palace_id": palace,
                "title": "戏曲进企业",
                "kind": "performance",
                "duration_minutes": 120,
                "needs": [{"skill": "戏曲", "count": 1}],
            }
        )
    d.upsert_volunteer(
        {
            "volunteer_id": "x1",
            "palace_id": "haining",
            "name": "越剧演员甲",
            "phone": "13900000001",
            "skills": ["戏曲"],
            "district": "海宁",
            "availability": FREE,
        }
    )
    d.upsert_troupe(
        {
            "troupe_id": "xiqu",
            "palace_id": "haining",
            "name": "越剧队",
            "district": "海宁",
            "members": ["x1"],
            "repertoire": ["h-opera"],
        }
    )
    assert d.lending("x1")["allowed"] is False  # off until the person says yes
    assert d.set_lending("x1", {"allowed": True})["allowed"] is True
    made = d.create_alliance({"name": "文化宫联盟", "palace_ids": ["qingdao", "haining"]})
    assert made["palace_ids"] == ["haining", "qingdao"]
    assert d.share_troupe("xiqu", {"shared": True})["shared"] is True
    (event,) = spy.wait_for("dispatch", "troupe_sharing_changed")
    assert event["alliance_id"] == made["alliance_id"]
    return d, spy


def qingdao_order(config, order_id, start=14, end=18):
    return accepted(config, order_id, start, end, palace_id="qingdao", program_id="q-opera", district="市南")


def test_a_member_palace_borrows_a_shared_troupe_and_its_order_is_planned_with_the_lenders_volunteers(
    alliance, service_config
):
    d, spy = alliance
    seen = d.shared_troupes("qingdao")
    assert [(t["troupe_id"], t["member_count"], t["skills"]) for t in seen] == [("xiqu", 1, {"戏曲": 1})]
    assert "phone" not in seen[0] and "members" not in seen[0]
    qingdao_order(service_config, "b1")
    plan = wait_until(lambda: status(d, "b1") == "unfulfillable" and d.get_plan("b1"), what="b1 unfulfillable")
    assert [t["troupe_id"] for t in plan["explanation"]["alliance_troupes"]] == ["xiqu"]
    assert "越剧队" in plan["reason"] and "申请借用" in plan["reason"]

    loan = d.request_loan("qingdao", {"order_id": "b1", "troupe_id": "xiqu", "note": "周五下午"}, by="disp_q")
    assert loan["status"] == "pending" and loan["owner_palace_id"] == "haining"
    with pytest.raises(Conflict):  # asked once is enough
        d.request_loan("qingdao", {"order_id": "b1", "troupe_id": "xiqu"}, by="disp_q")
    assert status(d, "b1") == "unfulfillable" and not offers_of(d, "b1")  # nothing before approval
    with pytest.raises(Forbidden):  # the borrower cannot approve its own request
        d.approve_loan(loan["loan_id"], "qingdao", by="disp_q")
    assert [x["loan_id"] for x in d.list_loans("haining")["incoming"]] == [loan["loan_id"]]
    assert [x["loan_id"] for x in d.list_loans("qingdao")["outgoing"]] == [loan["loan_id"]]

    approved = d.approve_loan(loan["loan_id"], "haining", by="disp_h")
    assert approved["status"] == "approved" and approved["decided_by"] == "disp_h"
    (offer,) = wait_until(lambda: offers_of(d, "b1"), what="an offer to x1")
    assert offer["volunteer_id"] == "x1"
    assert d.get_plan("b1")["troupe_id"] == "xiqu"
    d.accept_offer(offer["offer_id"], {"volunteer_id": "x1"})
    assert d.get_plan("b1")["status"] == "scheduled"
    types = [t for s, t, _ in spy.drain() if s == "dispatch"]
    assert types.index("troupe_loan_requested") < types.index("troupe_loan_approved") < types.index("offer_made")


def test_a_refused_loan_keeps_the_troupe_out_and_a_cancelled_order_ends_the_loan(alliance, service_config):
    d, spy = alliance
    qingdao_order(service_config, "b2")
    wait_until(lambda: status(d, "b2") == "unfulfillable", what="b2 unfulfillable")
    loan = d.request_loan("qingdao", {"order_id": "b2", "troupe_id": "xiqu"}, by="disp_q")
    with pytest.raises(Invalid):  # a refusal needs a reason
        d.refuse_loan(loan["loan_id"], {"reason": ""}, "haining", by="disp_h")
    refused = d.refuse_loan(loan["loan_id"], {"reason": "那天越剧队有自己的演出"}, "haining", by="disp_h")
    assert refused["status"] == "refused"
    (event,) = spy.wait_for("dispatch", "troupe_loan_refused")
    assert event["reason"] == "那天越剧队有自己的演出"
    with pytest.raises(Conflict):
        d.approve_loan(loan["loan_id"], "haining", by="disp_h")
    d.replan("qingdao", {"start": iso(0), "end": iso(48)})
    assert status(d, "b2") == "unfulfillable" and not d.get_plan("b2")["offers"]

    qingdao_order(service_config, "b3", start=9, end=12)
    wait_until(lambda: status(d, "b3") == "unfulfillable", what="b3 unfulfillable")
    loan = d.request_loan("qingdao", {"order_id": "b3", "troupe_id": "xiqu"}, by="disp_q")
    d.approve_loan(loan["loan_id"], "haining", by="disp_h")
    wait_until(lambda: offers_of(d, "b3"), what="an offer to x1 for b3")
    publish_event(
        service_config,
        "orders",
        "order_cancelled",
        order_id="b3",
        palace_id="qingdao",
        enterprise_id="jingbian",
        previous_status="accepted",
    )
    (ended,) = spy.wait_for("dispatch", "troupe_loan_ended")
    assert (ended["cause"], ended["previous_status"]) == ("order_cancelled", "approved")
    db = MongoClient(service_config["MONGO_URI"], tz_aware=True)[f"{service_config['DB_PREFIX']}dispatch"]
    assert db.bookings.count_documents({"volunteer_id": "x1"}) == 0  # the lent member's time is free again


def test_a_lent_volunteer_already_booked_at_home_is_not_double_booked(alliance, service_config):
    d, _ = alliance
    accepted(service_config, "a1", program_id="h-opera")  # Haining's own order, same afternoon
    wait_until(lambda: [o["volunteer_id"] for o in offers_of(d, "a1")] == ["x1"], what="x1 offered for a1")
    qingdao_order(service_config, "b4")
    wait_until(lambda: status(d, "b4") == "unfulfillable", what="b4 unfulfillable")
    loan = d.request_loan("qingdao", {"order_id": "b4", "troupe_id": "xiqu"}, by="disp_q")
    d.approve_loan(loan["loan_id"], "haining", by="disp_h")
    plan = d.get_plan("b4")
    assert plan["status"] == "unfulfillable" and not plan["offers"]
    assert "已有安排" in plan["reason"] or "间隔" in plan["reason"]
    db = MongoClient(service_config["MONGO_URI"], tz_aware=True)[f"{service_config['DB_PREFIX']}dispatch"]
    assert {b["order_id"] for b in db.bookings.find({"volunteer_id": "x1"})} == {"a1"}


def test_only_a_shared_troupe_of_the_own_alliance_can_be_asked_for_and_requests_expire(alliance, service_config):
    d, spy = alliance
    d.upsert_palace({"palace_id": "outside", "name": "联盟外的文化宫", "district": "外地"})
    assert d.shared_troupes("outside") == []
    qingdao_order(service_config, "b5")
    wait_until(lambda: status(d, "b5") == "unfulfillable", what="b5 unfulfillable")
    with pytest.raises(Forbidden) as err:  # "art" is Haining's but not shared
        d.request_loan("qingdao", {"order_id": "b5", "troupe_id": "art"}, by="disp_q")
    assert err.value.message == "这支队伍没有向本联盟共享。"
    with pytest.raises(Forbidden):  # not the order of the asking palace
        d.request_loan("outside", {"order_id": "b5", "troupe_id": "xiqu"}, by="disp_o")
    d.share_troupe("xiqu", {"shared": False})
    d.upsert_troupe({**d.get_troupe("xiqu"), "shared": None})  # an edit keeps the sharing as set
    assert d.get_troupe("xiqu")["shared"] is False and d.shared_troupes("qingdao") == []
    with pytest.raises(Forbidden):
        d.request_loan("qingdao", {"order_id": "b5", "troupe_id": "xiqu"}, by="disp_q")
    d.share_troupe("xiqu", {"shared": True})
    loan = d.request_loan("qingdao", {"order_id": "b5", "troupe_id": "xiqu"}, by="disp_q")
    db = MongoClient(service_config["MONGO_URI"], tz_aware=True)[f"{service_config['DB_PREFIX']}dispatch"]
    db.loans.update_one({"_id": loan["loan_id"]}, {"$set": {"expires_at": dt.datetime.now(dt.UTC)}})
    assert d.expire_loans() == 1
    assert d.get_loan(loan["loan_id"])["status"] == "expired"
    (ended,) = spy.wait_for("dispatch", "troupe_loan_ended")
    assert ended["cause"] == "expired"
    with pytest.raises(Conflict):
        d.create_alliance({"name": "第二个联盟", "palace_ids": ["haining", "outside"]})


def test_a_member_who_does_not_consent_is_never_lent_though_the_troupe_is(alliance, service_config):
    d, spy = alliance
    d.set_lending("x1", {"allowed": False})  # withdrawn
    qingdao_order(service_config, "b9")
    wait_until(lambda: status(d, "b9") == "unfulfillable", what="b9 unfulfillable")
    assert [t["troupe_id"] for t in d.shared_troupes("qingdao")] == ["xiqu"]  # the troupe's skills still show
    loan = d.request_loan("qingdao", {"order_id": "b9", "troupe_id": "xiqu"}, by="disp_q")
    d.approve_loan(loan["loan_id"], "haining", by="disp_h")
    wait_until(lambda: [t for s, t, _ in spy.drain() if t == "order_unfulfillable"], what="planned again")
    assert not offers_of(d, "b9") and status(d, "b9") == "unfulfillable"
    with pytest.raises(Invalid):
        d.set_lending("x1", {"allowed": "maybe"})
