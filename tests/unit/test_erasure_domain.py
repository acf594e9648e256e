"""Erasure without I/O: what is replaced where, what an account's person is known by, who may
ask for whom, and when it is carried out."""

import datetime as dt

import pytest

from common import erasure
from common.errors import Forbidden, NotFound
from common.personal import ERASED, needles, redact
from services.accounts import domain

AT = dt.datetime(2026, 12, 1, 10, tzinfo=dt.UTC)


def test_texts_are_replaced_in_every_string_and_the_username_only_where_a_field_is_exactly_it():
    doc = {
        "_id": "v1",
        "volunteer_id": "v1",
        "by": "v1",
        "usernames": ["v1", "v10"],
        "body": "欧阳晓岚（13911112222）接受了邀约",
        "crew": [{"volunteer_id": "v1", "name": "欧阳晓岚", "hours": 2.0}],
        "note": "v1 说明",
    }
    out = erasure.replace(doc, needles(["欧阳晓岚", "13911112222"]), {"v1": "已注销用户-ab"})
    assert out["_id"] == "v1" and out["volunteer_id"] == "v1"  # ids stay: the counts keep them
    assert out["by"] == "已注销用户-ab" and out["usernames"] == ["已注销用户-ab", "v10"]
    assert out["body"] == f"{ERASED}（{ERASED}）接受了邀约"
    assert out["crew"] == [{"volunteer_id": "v1", "name": ERASED, "hours": 2.0}]
    assert out["note"] == "v1 说明"  # a username inside a text is not a username


def test_needles_are_distinct_longest_first_and_never_a_single_character():
    assert needles(["张", " 张三 ", "张三", None, "13911112222", ""]) == ["13911112222", "张三"]


def test_redact_clears_personal_fields_at_any_depth_and_counts_them():
    out, n = redact({"name": "李四", "hours": 2, "crew": [{"phone": "139", "volunteer_id": "v1"}], "email": None})
    assert out == {"name": None, "hours": 2, "crew": [{"phone": None, "volunteer_id": "v1"}], "email": None}
    assert n == 2


def test_a_volunteer_is_known_by_name_phone_card_and_email_an_enterprise_not_by_its_own_name():
    volunteer = {
        "_id": "xiaolan",
        "role": "volunteer",
        "display_name": "欧阳晓岚",
        "union_card": "ZJ-1",
        "email": "x@example.com",
        "profile": {"name": "欧阳晓岚", "phone": "13911112222"},
    }
    assert domain.erasure_texts(volunteer, {"name": "欧阳 晓岚", "phone": "13911112222"}) == [
        "x@example.com",
        "13911112222",
        "欧阳 晓岚",
        "ZJ-1",
        "欧阳晓岚",
    ]
    union = {
        "_id": "jingbian",
        "role": "enterprise",
        "display_name": "经编园区联合工会",
        "profile": {"name": "经编园区联合工会", "contact_name": "王芳", "contact_phone": "0573-87000000"},
    }
    assert domain.erasure_texts(union) == ["0573-87000000", "王芳"]
    # a display name that is only the username is not looked for in every text
    assert domain.erasure_texts({"_id": "v1", "role": "volunteer", "display_name": "v1"}) == []


def test_who_may_ask_for_whose_erasure():
    mine = {"_id": "v1", "role": "volunteer", "palace_id": "haining"}
    assert domain.check_may_erase({"username": "v1", "role": "volunteer"}, mine) is mine
    assert domain.check_may_erase({"username": "d", "role": "dispatcher", "palace_id": "haining"}, mine) is mine
    assert domain.check_may_erase({"username": "a", "role": "admin"}, mine) is mine
    with pytest.raises(Forbidden):
        domain.check_may_erase({"username": "d", "role": "dispatcher", "palace_id": "qingdao"}, mine)
    with pytest.raises(Forbidden):
        domain.check_may_erase({"username": "v2", "role": "volunteer", "palace_id": "haining"}, mine)
    with pytest.raises(Forbidden):  # a dispatcher records no admin's erasure
        domain.check_may_erase(
            {"username": "d", "role": "dispatcher", "palace_id": "haining"},
            {"_id": "root", "role": "admin", "palace_id": "haining"},
        )
    with pytest.raises(NotFound):
        domain.check_may_erase({"username": "a", "role": "admin"}, None)


@pytest.mark.parametrize(
    "grace, due", [(7, AT + dt.timedelta(days=7)), (0, AT), (-3, AT), (0.5, AT + dt.timedelta(hours=12))]
)
def test_an_erasure_is_due_after_its_grace_period(grace, due):
    doc = domain.new_erasure(
        "e1", {"_id": "v1", "role": "volunteer"}, {"username": "v1", "role": "volunteer"}, AT, grace
    )
    assert doc["due_at"] == due and doc["status"] == "pending"
    assert domain.pseudonym("0123456789abcdef") == "已注销用户-01234567"
