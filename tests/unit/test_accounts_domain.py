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
