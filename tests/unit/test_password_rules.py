"""The rule a new password meets, and how failed sign-ins slow down the next try. No I/O."""

import datetime as dt

import pytest

from common.errors import Invalid, Throttled
from services.accounts import domain

AT = dt.datetime(2026, 12, 1, 6, 0, tzinfo=dt.timezone.utc)
POLICY = domain.Throttle(limit=5, window=dt.timedelta(minutes=15), lock=dt.timedelta(minutes=15))


@pytest.mark.parametrize(
    "password",
    ["12345678", "password", "88888888", "woaini1314", "qwertyuiop", "1234567890", "Password123", "aaaaaaaaaaaa"],
)
def test_a_short_or_common_password_is_refused_with_its_reason(password):
    problem = domain.password_problem(password)
    assert problem is not None
    if len(password) < domain.MIN_PASSWORD:
        assert problem == "密码至少要 10 个字符。" and problem.template == "密码至少要 {n} 个字符。"
    else:
        assert problem == "这个密码太常见，很容易被猜到，请换一个。"


def test_the_username_and_the_phone_number_are_refused():
    assert domain.password_problem("Wang-Fang-2026", username="wang-fang-2026") == "密码不能是用户名或电话号码。"
    assert domain.password_problem("13911112222", phone="139 1111 2222") == "密码不能是用户名或电话号码。"
    assert domain.password_problem("13911112222", username="someone") is None


def test_a_long_password_is_taken_up_to_128_characters():
    assert domain.password_problem("马" * 10 + "-长城") is None
    assert domain.password_problem("correct horse battery staple " * 4) is None  # 116 characters
    assert domain.password_problem("x1" * 64) is None  # 128
    assert domain.password_problem("x1" * 64 + "y") == "密码最多 128 个字符。"


def test_the_common_list_is_shipped_and_read_in_lower_case():
    assert len(domain.COMMON_PASSWORDS) >= 1000
    assert {"woaini1314", "qwertyuiop", "88888888", "password"} <= domain.COMMON_PASSWORDS
    assert all(w == w.lower() for w in domain.COMMON_PASSWORDS)


def test_checked_password_names_the_field_with_the_reason():
    with pytest.raises(Invalid) as err:
        domain.checked_password("woaini1314", "u", None, "new_password")
    assert err.value.fields == {"new_password": ["这个密码太常见，很容易被猜到，请换一个。"]}
    assert domain.checked_password("a-good-long-one", "u") == "a-good-long-one"


def test_accounts_made_by_an_admin_and_registrations_keep_the_rule():
    with pytest.raises(Invalid):
        domain.new_user({"username": "adm", "password": "1234567890", "role": "admin"}, AT)
    profile = {"name": "李", "phone": "13900000000", "skills": [], "district": "海宁"}
    data = {"username": "li", "password": "13900000000", "role": "volunteer", "palace_id": "p", "volunteer": profile}
    with pytest.raises(Invalid) as err:
        domain.new_registration(data, AT)
    assert err.value.fields["password"] == ["密码不能是用户名或电话号码。"]


def test_the_wait_grows_after_the_first_failures_then_the_lock():
    waits = [domain.sign_in_wait(n, POLICY).total_seconds() for n in range(1, 7)]
    assert waits == [0, 0, 1, 2, 900, 900]
    wide = domain.Throttle(limit=20)
    assert [domain.sign_in_wait(n, wide).total_seconds() for n in (10, 11, 12, 15, 19)] == [0, 1, 2, 16, 60]


def test_failures_in_the_window_lock_and_the_lock_says_until_when():
    state, at, ready = None, AT, []
    for n in range(1, 5):
        state = domain.after_failure(state, at, POLICY)
        assert state["failures"] == n and state["locked_until"] is None
        ready.append(domain.next_try(state, at, POLICY))
        at = ready[-1] or at
    assert ready == [None, None, AT + dt.timedelta(seconds=1), AT + dt.timedelta(seconds=3)]
    state = domain.after_failure(state, at, POLICY)
    assert state["locked_until"] == at + POLICY.lock
    assert domain.next_try(state, at + dt.timedelta(minutes=14), POLICY) == state["locked_until"]
    assert domain.next_try(state, state["locked_until"], POLICY) is None
    assert state["expires_at"] == state["locked_until"]


def test_a_failure_after_the_window_starts_counting_again():
    state = domain.after_failure(None, AT, POLICY)
    state = domain.after_failure(state, AT + dt.timedelta(minutes=1), POLICY)
    later = domain.after_failure(state, AT + dt.timedelta(minutes=16), POLICY)
    assert later["failures"] == 1 and later["first_at"] == AT + dt.timedelta(minutes=16)


def test_the_answers_say_when_to_try_again():
    locked = domain.too_soon(AT + dt.timedelta(minutes=15), AT, True)
    assert isinstance(locked, Throttled) and locked.status == 429 and locked.code == "SIGN_IN_LOCKED"
    assert locked.message == "登录失败次数太多，已暂时锁定，请在 12 月 1 日 14:15 之后再试。"
    assert locked.retry_after == 900
    wait = domain.too_soon(AT + dt.timedelta(seconds=1.2), AT, False)
    assert wait.message == "登录尝试太频繁，请 2 秒后再试。" and wait.retry_after == 2
