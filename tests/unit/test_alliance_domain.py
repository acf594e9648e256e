"""Loans of troupes in an alliance (队伍联用): the loan's states, and the planner with a lent troupe."""

import datetime as dt

import pytest

from services.dispatch import domain
from services.dispatch import planner as P
from tests.unit.test_planner import at, crew_ids, instance, order, volunteer

NOW = dt.datetime(2026, 12, 1, 8, tzinfo=dt.UTC)
LOAN = {
    "loan_id": "l1",
    "order_id": "b1",
    "troupe_id": "xiqu",
    "status": "pending",
    "expires_at": NOW + dt.timedelta(days=3),
}


def test_a_pending_loan_is_approved_or_refused_once():
    approved = domain.decide_loan(LOAN, "approved", "disp_a", NOW)
    assert (approved["status"], approved["decided_by"], approved["decided_at"]) == ("approved", "disp_a", NOW)
    assert LOAN["status"] == "pending"  # the old state is not changed in place
    with pytest.raises(domain.LoanError) as err:
        domain.decide_loan(approved, "refused", "disp_a", NOW, "人手紧")
    assert err.value.code == "LOAN_DECIDED" and "已经同意" in err.value.message
    refused = domain.decide_loan(LOAN, "refused", "disp_a", NOW, "那天队伍有演出")
    assert refused["status"] == "refused" and refused["reason"] == "那天队伍有演出"


def test_a_refusal_needs_a_reason_and_a_late_answer_finds_the_request_expired():
    with pytest.raises(domain.LoanError) as err:
        domain.decide_loan(LOAN, "refused", "disp_a", NOW, "  ")
    assert err.value.code == "REASON_REQUIRED"
    with pytest.raises(domain.LoanError) as err:
        domain.decide_loan(LOAN, "approved", "disp_a", LOAN["expires_at"])
    assert err.value.code == "LOAN_EXPIRED"


def test_expiry_ends_only_a_pending_loan_and_a_cancelled_order_ends_any_open_one():
    approved = domain.decide_loan(LOAN, "approved", "disp_a", NOW)
    assert domain.end_loan(approved, "expired", NOW) is None
    assert domain.end_loan(LOAN, "expired", NOW)["status"] == "expired"
    assert domain.end_loan(approved, "order_cancelled", NOW)["status"] == "ended"
    refused = domain.decide_loan(LOAN, "refused", "disp_a", NOW, "不借")
    assert domain.end_loan(refused, "order_cancelled", NOW) is None


def test_only_approved_loans_lend_a_troupe_to_their_own_order():
    loans = [
        {**LOAN, "status": "approved"},
        {**LOAN, "troupe_id": "dance", "status": "pending"},
        {**LOAN, "troupe_id": "band", "status": "refused"},
        {**LOAN, "order_id": "b2", "troupe_id": "choir", "status": "approved"},
    ]
    assert domain.lent_for(loans, "b1") == ["xiqu"]


def test_allied_palaces_see_how_many_members_have_each_skill():
    members = [{"skills": ["戏曲", "声乐"], "phone": "139"}, {"skills": ["戏曲"]}, {}]
    assert domain.skill_counts(members) == {"声乐": 1, "戏曲": 2}


OWN = [volunteer("s", ["声乐"])]  # the borrowing palace has a singer, no opera performer
LENT_TROUPE = {"troupe_id": "xiqu", "members": ["x1", "x2"], "repertoire": ["other-palace-program"]}
LENT_MEMBERS = [volunteer("x1", ["戏曲"], district="许村"), volunteer("x2", ["戏曲"], district="许村")]
NEEDS = (("声乐", 1), ("戏曲", 1))


def test_without_a_loan_the_order_cannot_be_staffed():
    inst = instance(OWN)
    assert isinstance(P.plan_order(inst, order(inst, needs=NEEDS)), P.Miss)


def test_a_lent_troupe_and_its_members_join_the_candidates_of_the_order():
    volunteers, troupes = domain.with_lent(OWN, [], [LENT_TROUPE], LENT_MEMBERS)
    assert [v["volunteer_id"] for v in volunteers] == ["s", "x1", "x2"]
    inst = instance(volunteers, troupes)
    choice = P.plan_order(inst, order(inst, needs=NEEDS, troupes=["xiqu"]))
    assert choice.troupe == "xiqu"
    assert crew_ids(inst, choice)[0] == ("s", "声乐") and crew_ids(inst, choice)[1][1] == "戏曲"


def test_a_lent_member_booked_at_home_at_the_same_time_is_not_planned_twice():
    volunteers, troupes = domain.with_lent(OWN, [], [LENT_TROUPE], LENT_MEMBERS)
    inst = instance(volunteers, troupes)
    for vid in ("x1", "x2"):  # both perform for their own palace that afternoon
        inst.hold(inst.index[vid], inst.bucket(at(0, 13)), inst.bucket(at(0, 19)), 360)
    miss = P.plan_order(inst, order(inst, needs=NEEDS, troupes=["xiqu"]), explain=True)
    assert isinstance(miss, P.Miss) and miss.missing == {"戏曲": 1} and miss.excluded.get("busy") == 2


def test_a_member_already_in_the_own_list_is_not_added_twice():
    volunteers, troupes = domain.with_lent(LENT_MEMBERS[:1], [LENT_TROUPE], [LENT_TROUPE], LENT_MEMBERS)
    assert [v["volunteer_id"] for v in volunteers] == ["x1", "x2"] and len(troupes) == 1
