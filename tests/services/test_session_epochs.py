"""The accounts service's session epoch: each end counts, in one transaction with the tokens."""

from __future__ import annotations

import datetime as dt

import pytest

from recommender.extensions import db
from recommender.models import ApiToken, User
from recommender.services import accounts
from recommender.services.errors import NotFound

HASH = "pbkdf2:sha256:1000"


def make_user(name: str = "alice") -> User:
    return accounts.create_user(db.session, name, "correct horse battery", hash_method=HASH)


def tokens_of(user_id: int) -> int:
    return db.session.query(ApiToken).filter_by(user_id=user_id).count()


def test_a_new_user_starts_at_epoch_zero_and_each_end_adds_one(app):
    user = make_user()
    assert user.session_epoch == 0
    assert accounts.end_sessions(db.session, user.id) == 1
    assert accounts.end_sessions(db.session, user.id) == 2
    db.session.expire_all()
    assert db.session.get(User, user.id).session_epoch == 2


def test_ending_the_sessions_of_nobody_is_not_found_and_changes_nothing(app):
    user = make_user()
    with pytest.raises(NotFound):
        accounts.end_sessions(db.session, user.id + 1000)
    db.session.expire_all()
    assert db.session.get(User, user.id).session_epoch == 0


def test_sign_out_everywhere_revokes_the_tokens_and_bumps_the_epoch_of_that_user_only(app):
    alice, bob = make_user(), make_user("bob")
    for user in (alice, alice, bob):
        accounts.issue_token(db.session, user, ttl=dt.timedelta(hours=1))

    accounts.sign_out_everywhere(db.session, alice.id)

    db.session.expire_all()
    assert (tokens_of(alice.id), tokens_of(bob.id)) == (0, 1)
    assert (
        db.session.get(User, alice.id).session_epoch,
        db.session.get(User, bob.id).session_epoch,
    ) == (1, 0)


def test_a_password_change_keeps_only_the_named_token(app):
    alice = make_user()
    kept, _ = accounts.issue_token(db.session, alice, ttl=dt.timedelta(hours=1))
    accounts.issue_token(db.session, alice, ttl=dt.timedelta(hours=1))

    epoch = accounts.change_password(
        db.session,
        alice,
        "correct horse battery",
        "new passphrase",
        hash_method=HASH,
        keep_token=kept,
    )

    assert epoch == 1 and tokens_of(alice.id) == 1
    assert accounts.user_for_token(db.session, kept).id == alice.id
    assert accounts.authenticate(db.session, "alice", "new passphrase", hash_method=HASH)


def test_a_wrong_current_password_changes_nothing(app):
    alice = make_user()
    accounts.issue_token(db.session, alice, ttl=dt.timedelta(hours=1))
    with pytest.raises(accounts.WrongPassword):
        accounts.change_password(db.session, alice, "nope", "new passphrase", hash_method=HASH)
    db.session.expire_all()
    assert tokens_of(alice.id) == 1 and db.session.get(User, alice.id).session_epoch == 0
    assert accounts.authenticate(db.session, "alice", "correct horse battery", hash_method=HASH)
