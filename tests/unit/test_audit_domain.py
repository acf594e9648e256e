"""What the audit log keeps of an event, and of a look at personal data (no I/O)."""

import datetime as dt

from services.audit import domain

AT = dt.datetime(2026, 12, 1, 6, 30, tzinfo=dt.UTC)
ACTOR = {"username": "disp1", "role": "dispatcher", "palace_id": "p1", "address": "10.0.0.5"}


def event(**over):
    return {"event_id": "e1", "occurred_at": AT.isoformat(), "version": 1, **over}


def test_an_event_a_person_caused_is_kept_with_its_author_subject_and_palaces():
    payload = event(actor=ACTOR, order_id="o1", palace_id="p1", enterprise_id="x", reason="剧场检修")
    assert domain.kept("order_rejected", payload)
    entry = domain.entry_of("orders", "order_rejected", payload, AT)
    assert entry["_id"] == "e1" and entry["at"] == AT and entry["kind"] == "order_rejected"
    assert entry["actor"] == ACTOR
    assert entry["subject"] == {"type": "order", "id": "o1"}
    assert entry["palace_ids"] == ["p1"]
    assert entry["details"] == {"order_id": "o1", "palace_id": "p1", "enterprise_id": "x", "reason": "剧场检修"}


def test_the_systems_own_steps_are_not_kept_but_decisions_are_whoever_made_them():
    assert not domain.kept("offer_expired", event(offer_id="f", order_id="o1"))
    assert not domain.kept("order_scheduled", event(order_id="o1"))
    # the order scheduled in the transaction of the last acceptance is the system's, not the volunteer's
    assert not domain.kept("order_scheduled", event(actor=ACTOR, order_id="o1"))
    assert not domain.kept("offer_made", event(actor=ACTOR, order_id="o1", kind="cover"))
    assert domain.kept("offer_made", event(actor=ACTOR, order_id="o1", kind="override"))
    assert not domain.kept("notification_created", event(actor=ACTOR))  # what was said, not done
    grant = event(order_id="o1", palace_id="p1", volunteer_id="v1", hours=2, reason="补登", granted_by="disp9")
    assert domain.kept("hours_granted", grant)
    assert domain.author(grant)["username"] == "disp9"
    locked = event(username="wang", client="10.0.0.9", scope="client", failures=20)
    assert domain.kept("sign_in_locked", locked)
    assert domain.author(locked) == {"username": "system", "role": None, "palace_id": None, "address": "10.0.0.9"}
    assert domain.entry_of("accounts", "sign_in_locked", locked, AT)["subject"] == {"type": "account", "id": "wang"}


def test_a_loan_is_seen_by_the_lending_and_the_borrowing_palace():
    loan = event(
        loan_id="l1",
        order_id="o1",
        troupe_id="t1",
        alliance_id="a1",
        owner_palace_id="p2",
        palace_id="p1",
        decided_by="disp2",
        actor={**ACTOR, "palace_id": "p2"},
    )
    entry = domain.entry_of("dispatch", "troupe_loan_approved", loan, AT)
    assert entry["palace_ids"] == ["p1", "p2"] and entry["subject"] == {"type": "loan", "id": "l1"}


def test_the_same_look_within_the_hour_is_one_entry_and_each_export_its_own():
    look = {
        "kind": "personal_data_viewed",
        "actor": ACTOR,
        "what": "volunteers",
        "subject": {"type": "volunteers", "id": "p1"},
        "palace_ids": ["p1"],
        "rows": 12,
        "access_id": "a1",
    }
    first = domain.access_entry(look, AT, 60)
    again = domain.access_entry({**look, "access_id": "a2"}, AT + dt.timedelta(minutes=20), 60)
    later = domain.access_entry({**look, "access_id": "a3"}, AT + dt.timedelta(minutes=40), 60)
    assert first["_id"] == again["_id"] != later["_id"]  # 06:30 and 06:50 fall in one hour, 07:10 not
    assert first["details"] == {"what": "volunteers", "rows": 12}
    export = {**look, "kind": "list_exported"}
    assert domain.access_entry(export, AT, 60)["_id"] == "a1"
    assert domain.access_entry({**export, "access_id": "a2"}, AT, 60)["_id"] == "a2"


def test_every_kind_has_a_name_and_every_decision_kept_always_is_a_kind():
    assert domain.ALWAYS <= set(domain.KINDS)
    assert set(domain.ACCESS_KINDS) <= set(domain.KINDS)
