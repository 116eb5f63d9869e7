"""Usernames unique regardless of case and Unicode form (issue 14 item 5): sign-up, sign-in,
the MovieLens importer's users, and migration 0006, which stops on existing collisions."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.util import CommandError
from flask import current_app
from flask_migrate import downgrade, upgrade

from recommender.engine.scale import RatingScale
from recommender.extensions import db
from recommender.importers.movielens.importer import import_movielens
from recommender.models import Movie, User, username_key
from recommender.services import accounts
from recommender.services.catalogue import search_movies
from recommender.services.errors import Conflict, ImportRefused
from tests.api.helpers import PASSWORD, assert_error

HASH = "pbkdf2:sha256:1000"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "movielens"
FULLWIDTH_ALICE = "\uff21\uff4c\uff49\uff43\uff45"  # "Alice" in fullwidth letters


def make_user(username: str) -> User:
    return accounts.create_user(db.session, username, PASSWORD, hash_method=HASH)


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("Alice", "alice"),
        ("ALICE", "alice"),
        (FULLWIDTH_ALICE, "alice"),
        ("Stra\u00dfe", "strasse"),  # ß folds to ss
        ("\u212bngstr\u00f6m", "\u00e5ngstr\u00f6m"),  # the Ångström sign is the letter Å
        ("caf\u0065\u0301", "caf\u00e9"),  # a combining accent composes
    ],
)
def test_username_key_folds_case_and_unicode_form(name, key):
    assert username_key(name) == key


def test_signing_up_alice_when_alice_exists_is_the_taken_error(app):
    first = make_user("alice")
    with pytest.raises(Conflict, match="'Alice' already exists"):
        make_user("Alice")
    assert db.session.scalars(sa.select(User.id)).all() == [first.id]


def test_the_displayed_username_keeps_its_form(app):
    user = make_user("Alice.Smith")
    assert user.username == "Alice.Smith" and user.username_key == "alice.smith"


@pytest.mark.parametrize("typed", ["alice", "ALICE", "aLiCe", FULLWIDTH_ALICE])
def test_sign_in_accepts_any_case_and_unicode_form(app, typed):
    user = make_user("Alice")
    assert accounts.authenticate(db.session, typed, PASSWORD, hash_method=HASH) is user
    with pytest.raises(accounts.InvalidCredentials):
        accounts.authenticate(db.session, typed, "wrong password", hash_method=HASH)


def test_the_unique_index_refuses_a_second_key_whatever_path_writes_it(app):
    make_user("alice")
    with pytest.raises(sa.exc.IntegrityError):
        db.session.add(User(username="ALICE", source="local"))  # key filled by the default
        db.session.commit()
    db.session.rollback()


def test_api_tokens_and_registration_ignore_case(client):
    created = client.post("/api/v1/auth/register", json={"username": "Alice", "password": PASSWORD})
    assert created.status_code == 201 and created.get_json()["username"] == "Alice"
    taken = client.post("/api/v1/auth/register", json={"username": "alice", "password": PASSWORD})
    error = assert_error(taken, 409, "conflict")
    assert "alice" in error["message"]
    token = client.post("/api/v1/auth/tokens", json={"username": "ALICE", "password": PASSWORD})
    assert token.status_code == 201, token.get_json()


def test_movielens_users_get_their_key_and_a_local_name_in_another_case_blocks_them(app):
    # Sign-up refuses "ml-" names now; an account from before that rule still blocks them.
    db.session.add(User(username="ML-1M-2", password_hash="x"))
    db.session.commit()
    with pytest.raises(ImportRefused) as refused:
        import_movielens(db.session, FIXTURES / "1m", scale=RatingScale(0.5, 5.0, 0.5))
    message = "user 2 would be 'ml-1m-2', a name already taken (by 'ML-1M-2')"
    assert refused.value.details == [{"location": "ratings.dat line 4", "message": message}]
    assert db.session.scalar(sa.select(sa.func.count(User.id))) == 1

    db.session.execute(sa.delete(User))
    db.session.commit()
    import_movielens(db.session, FIXTURES / "1m", scale=RatingScale(0.5, 5.0, 0.5))
    rows = db.session.execute(sa.select(User.username, User.username_key)).all()
    assert rows and all(key == username_key(name) for name, key in rows)


# --- migration 0006 -----------------------------------------------------------------------


def revision() -> str:
    return db.session.scalar(sa.text("SELECT version_num FROM alembic_version"))


def insert_user_before_0006(username: str) -> int:
    return db.session.scalar(
        sa.text(
            "INSERT INTO users (username, is_admin, ratings_version, source, created_at)"
            " VALUES (:name, false, 0, 'local', CURRENT_TIMESTAMP) RETURNING id"
        ),
        {"name": username},
    )


@pytest.fixture
def before_0006(app):
    """The database migrated down to 0005 (just before 0006); back at head afterwards."""
    db.session.remove()
    downgrade(revision="0005")
    yield
    db.session.remove()
    upgrade()


def test_migration_stops_on_colliding_usernames_naming_them_and_changes_nothing(before_0006):
    alice = insert_user_before_0006("Alice")
    bob = insert_user_before_0006("bob")
    lower_alice = insert_user_before_0006("alice")
    insert_user_before_0006("BOB")
    insert_user_before_0006("carol")
    db.session.commit()
    db.session.remove()
    # Alembic's own command, for the error itself (`recommender db upgrade` prints its text
    # after "Error:" and exits with status 1).
    config = current_app.extensions["migrate"].migrate.get_config()
    with pytest.raises(CommandError) as stopped:
        command.upgrade(config, "head")
    message = str(stopped.value)
    assert f"usernames 'Alice' (id {alice}) and 'alice' (id {lower_alice})" in message
    assert f"'bob' (id {bob}) and 'BOB'" in message
    assert message.endswith("rename one of each, then upgrade again")
    assert revision() == "0005"
    assert "username_key" not in {c["name"] for c in sa.inspect(db.engine).get_columns("users")}
    assert db.session.scalar(sa.text("SELECT count(*) FROM users")) == 5  # nobody renamed

    db.session.execute(
        sa.text("UPDATE users SET username = 'alice2' WHERE id = :id"), {"id": alice}
    )
    db.session.execute(sa.text("DELETE FROM users WHERE username = 'BOB'"))
    db.session.commit()
    db.session.remove()
    upgrade()
    keys = dict(db.session.execute(sa.select(User.username, User.username_key)).all())
    assert keys == {"alice2": "alice2", "bob": "bob", "alice": "alice", "carol": "carol"}


def test_migration_indexes_the_movies_already_there(before_0006):
    db.session.execute(
        sa.text(
            "INSERT INTO movies (title, year, created_at, updated_at)"
            " VALUES ('Le Fabuleux destin d''Amélie Poulain', 2001, CURRENT_TIMESTAMP,"
            " CURRENT_TIMESTAMP)"
        )
    )
    db.session.commit()
    db.session.remove()
    upgrade()
    assert [m["title"] for m in search_movies(db.session, q="amelie").items] == [
        "Le Fabuleux destin d'Amélie Poulain"
    ]
    db.session.execute(sa.delete(Movie))
    db.session.commit()
