"""Passwords changed and reset, sessions ended and sign-ins throttled, by the accounts service
against the real database (the broker left out: signals are recorded, events read from the outbox)."""

import datetime as dt
from unittest.mock import Mock

import pytest
from nameko.testing.services import worker_factory
from pymongo import MongoClient

from common.errors import Forbidden, Invalid, NotFound, Throttled, Unauthorized
from common.store import Store
from contracts import signals
from services.accounts.service import AccountsService

PASSWORD = "long-enough-password"
NEW = "a-new-long-password"


@pytest.fixture
def accounts(mongo_uri, db_prefix):
    client = MongoClient(mongo_uri, tz_aware=True)
    config = {"SIGN_IN_FAILURES": "5", "SIGN_IN_FAILURES_PER_CLIENT": "8"}
    store = Store(client, f"{db_prefix}accounts", "accounts", "amqp://nobody@127.0.0.1:1/", config)
    store.ensure_outbox_indexes()
    AccountsService.store.indexes(store.db)
    service = worker_factory(AccountsService, store=store, signal=Mock())
    service.create_user({"username": "disp", "password": PASSWORD, "role": "dispatcher", "palace_id": "haining"})
    service.create_user({"username": "other", "password": PASSWORD, "role": "dispatcher", "palace_id": "qingdao"})
    service.create_user({"username": "adm", "password": PASSWORD, "role": "admin"})
    service.register(
        {
            "username": "vol",
            "password": PASSWORD,
            "role": "volunteer",
            "palace_id": "haining",
            "notice_version": 1,
            "volunteer": {"name": "李", "phone": "13900000000", "skills": ["声乐"], "district": "海宁"},
        }
    )
    service.approve_registration("vol", "disp")
    yield service
    client.close()


def events(service, event_type):
    return [e["payload"] for e in service.store.db.outbox.find({"event_type": event_type})]


def ended_keys(service):
    return [c.args[1]["token_key"] for c in service.signal.call_args_list if c.args[0] == signals.SESSION_ENDED]


def sign_in(service, password=PASSWORD, username="vol", client=None):
    return service.login({"username": username, "password": password}, client)


def test_a_change_needs_the_old_password_and_a_strong_new_one_and_ends_every_session(accounts):
    first, second = sign_in(accounts), sign_in(accounts)
    with pytest.raises(Invalid) as err:
        accounts.change_password("vol", {"old_password": "not-the-password", "new_password": NEW})
    assert err.value.code == "WRONG_PASSWORD" and err.value.fields == {"old_password": ["原密码不对。"]}
    for weak, reason in (
        ("woaini1314", "这个密码太常见，很容易被猜到，请换一个。"),
        ("short", "密码至少要 10 个字符。"),
        ("13900000000", "密码不能是用户名或电话号码。"),  # the phone the registration gave
    ):
        with pytest.raises(Invalid) as err:
            accounts.change_password("vol", {"old_password": PASSWORD, "new_password": weak})
        assert err.value.fields == {"new_password": [reason]}
    assert accounts.authenticate(first["token"])["username"] == "vol"

    assert accounts.change_password("vol", {"old_password": PASSWORD, "new_password": NEW}) == {
        "status": "ok",
        "sessions_ended": 2,
    }
    for signed in (first, second):
        with pytest.raises(Unauthorized):
            accounts.authenticate(signed["token"])
    assert len(ended_keys(accounts)) == 2
    with pytest.raises(Unauthorized):
        sign_in(accounts)
    assert sign_in(accounts, NEW)["principal"]["username"] == "vol"
    (changed,) = events(accounts, "password_changed")
    assert (changed["username"], changed["by"], changed["via"]) == ("vol", "vol", "change")
    (ended,) = events(accounts, "sessions_ended")
    assert (ended["username"], ended["reason"], ended["sessions"]) == ("vol", "password_changed", 2)
    assert PASSWORD not in str(list(accounts.store.db.outbox.find())) and NEW not in str(
        list(accounts.store.db.outbox.find())
    )


def test_a_reset_link_is_made_by_the_palace_works_once_and_ends_the_sessions(accounts):
    signed = sign_in(accounts)
    with pytest.raises(Forbidden):
        accounts.request_password_reset("vol", {"username": "other", "role": "dispatcher", "palace_id": "qingdao"})
    with pytest.raises(Forbidden):  # a dispatcher cannot reset an admin's
        accounts.request_password_reset("adm", {"username": "disp", "role": "dispatcher", "palace_id": "haining"})
    with pytest.raises(NotFound):
        accounts.request_password_reset("nobody", {"username": "adm", "role": "admin", "palace_id": None})
    made = accounts.request_password_reset("vol", {"username": "disp", "role": "dispatcher", "palace_id": "haining"})
    assert made["link"] == f"/reset?token={made['token']}" and made["username"] == "vol"
    expires = dt.datetime.fromisoformat(made["expires_at"])
    assert dt.timedelta(hours=23, minutes=59) < expires - dt.datetime.now(dt.UTC) <= dt.timedelta(hours=24)
    stored = accounts.store.db.password_resets.find_one()
    assert made["token"] not in str(stored) and stored["username"] == "vol"
    (requested,) = events(accounts, "password_reset_requested")
    assert (requested["username"], requested["by"], requested["palace_id"]) == ("vol", "disp", "haining")
    assert made["token"] not in str(list(accounts.store.db.outbox.find()))

    with pytest.raises(Invalid) as err:
        accounts.reset_password({"token": made["token"], "new_password": "qwertyuiop"})
    assert err.value.fields == {"new_password": ["这个密码太常见，很容易被猜到，请换一个。"]}
    assert accounts.reset_password({"token": made["token"], "new_password": NEW})["sessions_ended"] == 1
    with pytest.raises(Unauthorized):
        accounts.authenticate(signed["token"])
    assert sign_in(accounts, NEW)["principal"]["username"] == "vol"
    with pytest.raises(Invalid) as err:  # once only
        accounts.reset_password({"token": made["token"], "new_password": "yet-another-password"})
    assert err.value.code == "RESET_TOKEN_INVALID"
    changed = events(accounts, "password_changed")
    assert [(c["via"], c["requested_by"]) for c in changed] == [("reset", "disp")]


def test_a_reset_link_expires(accounts):
    made = accounts.request_password_reset("disp", {"username": "adm", "role": "admin", "palace_id": None})
    # the stored expiry moved to a minute ago (the TTL index would remove it later)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    accounts.store.db.password_resets.update_many({}, {"$set": {"expires_at": past}})
    with pytest.raises(Invalid) as err:
        accounts.reset_password({"token": made["token"], "new_password": NEW})
    assert err.value.code == "RESET_TOKEN_INVALID"
    assert sign_in(accounts, username="disp")["principal"]["username"] == "disp"
    ttl = [i for i in accounts.store.db.password_resets.list_indexes() if dict(i["key"]) == {"expires_at": 1}]
    assert ttl and ttl[0]["expireAfterSeconds"] == 0


def test_sign_out_everywhere_ends_only_that_accounts_sessions(accounts):
    mine, also_mine, theirs = sign_in(accounts), sign_in(accounts), sign_in(accounts, username="disp")
    assert accounts.end_sessions("vol") == {"status": "ok", "sessions_ended": 2}
    for signed in (mine, also_mine):
        with pytest.raises(Unauthorized):
            accounts.authenticate(signed["token"])
    assert accounts.authenticate(theirs["token"])["username"] == "disp"
    (ended,) = events(accounts, "sessions_ended")
    assert (ended["username"], ended["by"], ended["reason"]) == ("vol", "vol", "logout_all")


def test_failures_slow_down_then_lock_the_account_and_a_success_starts_again(accounts):
    db = accounts.store.db
    for _ in range(2):
        with pytest.raises(Unauthorized):
            sign_in(accounts, "wrong-password")
    with pytest.raises(Unauthorized):
        sign_in(accounts, "wrong-password")  # the third: the next waits a second
    with pytest.raises(Throttled) as err:
        sign_in(accounts)  # too soon, even with the right password
    assert err.value.code == "SIGN_IN_WAIT" and err.value.retry_after == 1
    # the wait passed (moved back in the stored state rather than slept)
    db.sign_in_throttles.update_one(
        {"_id": "account:vol"}, {"$set": {"last_at": dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)}}
    )
    assert sign_in(accounts)["principal"]["username"] == "vol"
    assert db.sign_in_throttles.find_one({"_id": "account:vol"}) is None  # the success reset the count

    for n in range(1, 6):
        db.sign_in_throttles.update_one(
            {"_id": "account:vol"}, {"$set": {"last_at": dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)}}
        )
        with pytest.raises(Throttled if n == 5 else Unauthorized) as err:
            sign_in(accounts, "wrong-password", client="10.0.0.7")
    assert err.value.code == "SIGN_IN_LOCKED" and 890 <= err.value.retry_after <= 900
    assert "之后再试" in err.value.message
    with pytest.raises(Throttled):
        sign_in(accounts)  # locked: the right password waits too
    (locked,) = events(accounts, "sign_in_locked")
    assert (locked["username"], locked["scope"], locked["client"], locked["failures"]) == (
        "vol",
        "account",
        "10.0.0.7",
        5,
    )
    ttl = [i for i in db.sign_in_throttles.list_indexes() if dict(i["key"]) == {"expires_at": 1}]
    assert ttl and ttl[0]["expireAfterSeconds"] == 0
    assert sign_in(accounts, username="disp", client="10.0.0.8")["principal"]["username"] == "disp"


def test_failures_from_one_address_lock_that_address_for_every_account(accounts):
    db = accounts.store.db
    with pytest.raises(Unauthorized):
        sign_in(accounts, "wrong-password", username="nobody", client="10.0.0.9")
    assert db.sign_in_throttles.count_documents({}) == 0  # no account there: nothing to guess, nothing counted
    for n in range(8):
        db.sign_in_throttles.update_many({}, {"$set": {"last_at": dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)}})
        with pytest.raises((Unauthorized, Throttled)):
            sign_in(accounts, "wrong-password", username=("vol", "disp", "other", "adm")[n % 4], client="10.0.0.9")
    with pytest.raises(Throttled) as err:
        sign_in(accounts, username="disp", client="10.0.0.9")
    assert err.value.code == "SIGN_IN_LOCKED"
    assert sign_in(accounts, username="disp", client="10.0.0.10")["principal"]["username"] == "disp"
    assert [e["scope"] for e in events(accounts, "sign_in_locked")] == ["client"]
