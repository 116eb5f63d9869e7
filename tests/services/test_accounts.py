"""services.accounts: users, password checks and bearer tokens."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
import sqlalchemy as sa

from recommender.extensions import db
from recommender.models import ApiToken, User, utcnow
from recommender.services import accounts
from recommender.services.errors import Conflict, InvalidInput

HASH = "pbkdf2:sha256:1000"
HOUR = dt.timedelta(hours=1)


def make_user(username: str = "alice", password: str = "long enough", **kwargs) -> User:
    return accounts.create_user(db.session, username, password, hash_method=HASH, **kwargs)


def test_create_user_stores_a_hash_not_the_password(app):
    user = make_user()
    assert user.id is not None and not user.is_admin and user.ratings_version == 0
    assert user.password_hash.startswith("pbkdf2:sha256:1000$")
    assert "long enough" not in user.password_hash


def test_create_user_can_make_an_admin(app):
    assert make_user("root", is_admin=True).is_admin


@pytest.mark.parametrize(
    ("username", "password", "message"),
    [
        ("ab", "long enough", "Username must be 3 to 80"),
        ("a/b", "long enough", "Username must be 3 to 80"),
        ("alice", "7 chars", "Password must be at least 8"),
        ("alice", "x" * 201, "Password must be at least 8"),
    ],
)
def test_create_user_refuses_bad_input_and_writes_nothing(app, username, password, message):
    with pytest.raises(InvalidInput, match=message):
        make_user(username, password)
    assert db.session.scalar(sa.select(sa.func.count(User.id))) == 0


def test_create_user_refuses_a_taken_name(app):
    make_user("alice")
    with pytest.raises(Conflict, match="'alice' already exists"):
        make_user("alice", "other password")


def test_authenticate_returns_the_user_for_the_right_password(app):
    user = make_user()
    assert accounts.authenticate(db.session, "alice", "long enough", hash_method=HASH) is user


@pytest.mark.parametrize(("username", "password"), [("alice", "wrong one!"), ("bob", "x")])
def test_authenticate_refuses_wrong_password_and_unknown_user_alike(app, username, password):
    make_user()
    with pytest.raises(accounts.InvalidCredentials) as refused:
        accounts.authenticate(db.session, username, password, hash_method=HASH)
    assert refused.value.message == "Invalid username or password"


def test_authenticate_refuses_dataset_users_without_a_password(app):
    db.session.add(User(username="ml_7", password_hash=None, source="movielens"))
    db.session.commit()
    with pytest.raises(accounts.InvalidCredentials):
        accounts.authenticate(db.session, "ml_7", "", hash_method=HASH)


def test_issued_token_is_stored_only_as_its_sha256(app):
    user = make_user()
    token, expires_at = accounts.issue_token(db.session, user, ttl=HOUR)
    stored = db.session.scalars(sa.select(ApiToken)).one()
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert len(token) >= 43  # 32 random bytes, URL-safe base64
    assert accounts.user_for_token(db.session, token) is user
    assert expires_at - utcnow() <= HOUR


def test_tokens_are_unique_per_issue(app):
    user = make_user()
    first, _ = accounts.issue_token(db.session, user, ttl=HOUR)
    second, _ = accounts.issue_token(db.session, user, ttl=HOUR)
    assert first != second
    assert accounts.user_for_token(db.session, first) is accounts.user_for_token(db.session, second)


def test_a_token_stops_working_when_it_expires(app):
    user = make_user()
    issued = utcnow()
    token, expires_at = accounts.issue_token(db.session, user, ttl=HOUR, now=issued)
    assert expires_at == issued + HOUR
    assert accounts.user_for_token(db.session, token, now=issued + HOUR / 2) is user
    assert accounts.user_for_token(db.session, token, now=expires_at) is None
    assert accounts.user_for_token(db.session, token, now=expires_at + HOUR) is None


def test_revoke_token_deletes_only_that_token(app):
    user = make_user()
    kept, _ = accounts.issue_token(db.session, user, ttl=HOUR)
    revoked, _ = accounts.issue_token(db.session, user, ttl=HOUR)
    assert accounts.revoke_token(db.session, revoked) is True
    assert accounts.user_for_token(db.session, revoked) is None
    assert accounts.user_for_token(db.session, kept) is user
    assert accounts.revoke_token(db.session, revoked) is False


def test_unknown_token_belongs_to_nobody(app):
    make_user()
    assert accounts.user_for_token(db.session, "no-such-token") is None
