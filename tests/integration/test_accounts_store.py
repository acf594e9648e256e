"""The accounts service's entrypoints against the real database, the broker left out: the
signals it sends are recorded, the events it emits are read from the outbox."""

import datetime as dt
from unittest.mock import Mock

import pytest
from nameko.testing.services import worker_factory
from pymongo import MongoClient

from common.errors import Conflict, Forbidden, NotFound, Unauthorized
from common.store import Store
from contracts import signals
from services.accounts.service import AccountsService

PASSWORD = "long-enough-password"


@pytest.fixture
def accounts(mongo_uri, db_prefix):
    client = MongoClient(mongo_uri, tz_aware=True)
    store = Store(client, f"{db_prefix}accounts", "accounts", "amqp://nobody@127.0.0.1:1/", {"SESSION_HOURS": "2"})
    store.ensure_outbox_indexes()
    AccountsService.store.indexes(store.db)
    yield worker_factory(AccountsService, store=store, signal=Mock())
    client.close()


def signals_sent(service):
    return [(c.args[0], c.args[1]) for c in service.signal.call_args_list]


def registration(username="ent-new", role="enterprise"):
    profile = (
        {"name": "新企业工会", "contact_name": "王", "contact_phone": "13800000000", "district": "海宁"}
        if role == "enterprise"
        else {"name": "李", "phone": "13900000000", "skills": ["声乐"], "district": "海宁"}
    )
    return {
        "username": username,
        "password": PASSWORD,
        "role": role,
        "palace_id": "haining",
        "notice_version": 1,
        "email": "a@example.com",
        role: profile,
    }


def test_the_indexes_every_query_uses_are_kept(accounts):
    db = accounts.store.db
    users = {tuple(i["key"].items()) for i in db.users.list_indexes()}
    assert (("role", 1), ("palace_id", 1)) in users
    assert (("status", 1), ("palace_id", 1), ("created_at", 1)) in users
    assert (("volunteer_id", 1),) in users
    assert (("enterprise_id", 1),) in users
    ttl = [i for i in db.sessions.list_indexes() if dict(i["key"]) == {"expires_at": 1}]
    assert ttl and ttl[0]["expireAfterSeconds"] == 0


def test_an_account_is_created_once_and_signs_in_and_out(accounts):
    made = accounts.create_user(
        {"username": "disp", "password": PASSWORD, "role": "dispatcher", "palace_id": "haining"}
    )
    assert made == {
        "username": "disp",
        "display_name": "disp",
        "role": "dispatcher",
        "palace_id": "haining",
        "enterprise_id": None,
        "volunteer_id": None,
    }
    assert signals_sent(accounts) == [(signals.ACCOUNTS_CHANGED, {"usernames": ["disp"]})]
    with pytest.raises(Conflict) as err:
        accounts.create_user({"username": "disp", "password": PASSWORD, "role": "admin"})
    assert err.value.code == "USERNAME_TAKEN"

    with pytest.raises(Unauthorized):
        accounts.login({"username": "disp", "password": "wrong-password"})
    with pytest.raises(Unauthorized):
        accounts.login({"username": "nobody", "password": PASSWORD})
    signed = accounts.login({"username": "disp", "password": PASSWORD})
    assert signed["principal"] == made
    ends = dt.datetime.fromisoformat(signed["expires_at"])
    assert dt.timedelta(hours=1, minutes=59) < ends - dt.datetime.now(dt.UTC) <= dt.timedelta(hours=2)
    assert accounts.authenticate(signed["token"]) == made
    assert accounts.session(signed["token"]) == {"principal": made, "expires_at": signed["expires_at"]}
    stored = accounts.store.db.sessions.find_one()
    assert signed["token"] not in str(stored)

    assert accounts.logout(signed["token"]) == {"status": "ok"}
    assert signals_sent(accounts)[-1][0] == signals.SESSION_ENDED
    with pytest.raises(Unauthorized) as err:
        accounts.authenticate(signed["token"])
    assert err.value.code == "SESSION_EXPIRED"
    with pytest.raises(Unauthorized):
        accounts.authenticate("")
    assert accounts.logout(None) == {"status": "ok"}
    assert accounts.ping() == "ok"


def test_an_expired_session_is_refused(accounts):
    accounts.create_user({"username": "adm", "password": PASSWORD, "role": "admin"})
    signed = accounts.login({"username": "adm", "password": PASSWORD})
    accounts.store.db.sessions.update_many({}, {"$set": {"expires_at": dt.datetime.now(dt.UTC)}})
    with pytest.raises(Unauthorized) as err:
        accounts.session(signed["token"])
    assert err.value.code == "SESSION_EXPIRED"


def test_a_registration_waits_then_is_decided_once_with_its_event(accounts):
    out = accounts.register(registration())
    assert out["status"] == "pending" and out["username"] == "ent-new" and "password_hash" not in out
    with pytest.raises(Conflict):
        accounts.register(registration())
    with pytest.raises(Forbidden) as err:
        accounts.login({"username": "ent-new", "password": PASSWORD})
    assert err.value.code == "REGISTRATION_PENDING"
    accounts.register(registration("vol-new", "volunteer"))
    assert [r["username"] for r in accounts.list_registrations("haining")] == ["ent-new", "vol-new"]
    assert accounts.list_registrations("qingdao") == []
    assert [r["username"] for r in accounts.list_registrations(None)] == ["ent-new", "vol-new"]
    assert accounts.get_registration("ent-new") == out
    with pytest.raises(NotFound):
        accounts.get_registration("nobody")

    approved = accounts.approve_registration("ent-new", "disp")
    assert approved["status"] == "approved" and approved["decided_by"] == "disp"
    assert accounts.approve_registration("ent-new", "other") == approved  # again: nothing changes
    with pytest.raises(Conflict) as err:
        accounts.reject_registration("ent-new", {"reason": "不符合条件"}, "disp")
    assert err.value.code == "REGISTRATION_DECIDED"
    with pytest.raises(NotFound):
        accounts.approve_registration("nobody", "disp")
    assert accounts.login({"username": "ent-new", "password": PASSWORD})["principal"]["role"] == "enterprise"

    refused = accounts.reject_registration("vol-new", {"reason": "不符合条件"}, "disp")
    assert refused["status"] == "rejected" and refused["reason"] == "不符合条件"
    with pytest.raises(Forbidden) as err:
        accounts.login({"username": "vol-new", "password": PASSWORD})
    assert err.value.code == "REGISTRATION_REJECTED"
    assert accounts.list_registrations("haining", "approved")[0]["username"] == "ent-new"

    changed = [s for s in signals_sent(accounts) if s[0] == signals.ACCOUNTS_CHANGED]
    assert changed == [
        (signals.ACCOUNTS_CHANGED, {"usernames": ["ent-new"]}),
        (signals.ACCOUNTS_CHANGED, {"usernames": ["vol-new"]}),
    ]
    events = list(accounts.store.db.outbox.find({}))
    assert sorted((e["event_type"], e["payload"]["username"], e["payload"]["decision"]) for e in events) == [
        ("registration_decided", "ent-new", "approved"),
        ("registration_decided", "vol-new", "rejected"),
    ]


def test_recipients_are_the_open_accounts_each_id_reaches(accounts):
    accounts.create_user({"username": "d1", "password": PASSWORD, "role": "dispatcher", "palace_id": "haining"})
    accounts.create_user({"username": "d2", "password": PASSWORD, "role": "dispatcher", "palace_id": "qingdao"})
    accounts.create_user(
        {"username": "v1", "password": PASSWORD, "role": "volunteer", "palace_id": "haining", "volunteer_id": "v-1"}
    )
    accounts.create_user(
        {"username": "e1", "password": PASSWORD, "role": "enterprise", "palace_id": "haining", "enterprise_id": "e-1"}
    )
    accounts.register(registration("e2"))  # pending: reaches nobody yet
    e2 = accounts.get_registration("e2")["enterprise_id"]
    found = accounts.recipients({"volunteer": ["v-1"], "enterprise": ["e-1", e2], "palace": ["haining"]})
    assert [r["username"] for r in found] == ["d1", "e1", "v1"]
    accounts.approve_registration("e2", "d1")
    found = accounts.recipients({"volunteer": [], "enterprise": [e2], "palace": []})
    assert [(r["username"], r["role"]) for r in found] == [("e2", "enterprise")]
