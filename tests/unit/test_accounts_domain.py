"""Accounts: passwords hashed with argon2, tokens unguessable and stored only as hashes."""

import datetime as dt

import pytest

from common.errors import Invalid
from contracts.signals import token_key
from services.accounts import domain

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)


def test_a_password_is_stored_hashed_and_checked_against_the_hash():
    user = domain.new_user(
        {
            "username": "ent_a",
            "password": "s3cret-pass",
            "role": "enterprise",
            "palace_id": "p1",
            "enterprise_id": "e1",
        },
        NOW,
    )
    assert "s3cret-pass" not in str(user)
    assert user["password_hash"].startswith("$argon2")
    assert domain.password_matches(user["password_hash"], "s3cret-pass")
    assert not domain.password_matches(user["password_hash"], "s3cret-pasS")
    assert not domain.password_matches("not a hash", "s3cret-pass")


def test_a_role_needs_the_unit_it_belongs_to():
    with pytest.raises(Invalid) as err:
        domain.new_user({"username": "d", "password": "long-enough", "role": "dispatcher"}, NOW)
    assert "palace_id" in err.value.fields
    with pytest.raises(Invalid):
        domain.new_user({"username": "v", "password": "long-enough", "role": "volunteer", "palace_id": "p1"}, NOW)


def test_session_tokens_are_unguessable_and_kept_only_as_a_hash():
    tokens = {domain.new_token() for _ in range(1000)}
    assert len(tokens) == 1000 and all(len(t) >= 43 for t in tokens)  # 256 bits
    token = tokens.pop()
    assert token_key(token) != token and len(token_key(token)) == 64


def test_the_principal_carries_role_and_scope_but_no_secret():
    user = domain.new_user(
        {"username": "vol", "password": "long-enough", "role": "volunteer", "palace_id": "p1", "volunteer_id": "v1"},
        NOW,
    )
    principal = domain.principal(user)
    assert principal == {
        "username": "vol",
        "display_name": "vol",
        "role": "volunteer",
        "palace_id": "p1",
        "enterprise_id": None,
        "volunteer_id": "v1",
    }


def test_a_claim_code_is_eight_plain_characters_typed_loosely_and_stored_only_keyed():
    from common import invitations as codes

    code = codes.code_for("secret", "inv-1")
    assert len(code) == 8 and not set(code) & set("01OI") and code == codes.code_for("secret", "inv-1")
    assert codes.code_for("other", "inv-1") != code and codes.code_for("secret", "inv-2") != code
    typed = " " + codes.shown(code).lower().replace("-", " - ") + " "
    assert codes.key_of("secret", typed) == codes.key_of("secret", code) != codes.key_of("other", code)
    assert code not in codes.key_of("secret", code)
    assert codes.last4("+86 139-0000-1234") == "1234"


def test_a_claim_is_refused_wrong_used_or_expired_and_each_says_so():
    live = {"phone_last4": "1234", "used_at": None, "revoked_at": None, "expires_at": NOW + dt.timedelta(days=1)}
    assert domain.check_claimable(live, "1234", NOW) is live
    cases = [
        (None, "1234", "INVITATION_INVALID"),
        (live, "4321", "INVITATION_INVALID"),
        ({**live, "used_at": NOW}, "1234", "INVITATION_USED"),
        ({**live, "revoked_at": NOW}, "1234", "INVITATION_EXPIRED"),
        ({**live, "expires_at": NOW}, "1234", "INVITATION_EXPIRED"),
    ]
    for invitation, digits, code in cases:
        with pytest.raises(Invalid) as refused:
            domain.check_claimable(invitation, digits, NOW)
        assert refused.value.code == code
