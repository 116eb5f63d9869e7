"""Users, passwords and API tokens."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
import secrets

import sqlalchemy as sa
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from recommender.models import ApiToken, User, username_key, utcnow
from recommender.services.errors import Conflict, InvalidInput, NotFound

USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{3,80}$")
# Imported rating datasets name their users "<dataset>-<id>" ("ml-100k-1"): a local account
# under such a name would make a later import of that dataset fail on a taken name.
RESERVED_USERNAME_PREFIXES = ("ml-",)
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 200


class InvalidCredentials(InvalidInput):
    """Wrong username or password, or an account that cannot sign in."""

    code = "invalid_credentials"


class WrongPassword(InvalidInput):
    """A signed-in user's current password, asked again before changing it, is wrong."""

    code = "wrong_password"


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(
    session: Session,
    username: str,
    password: str,
    *,
    is_admin: bool = False,
    hash_method: str = "scrypt",
) -> User:
    """Create a local user with a hashed password; raise on a bad or taken name."""
    if not USERNAME_PATTERN.fullmatch(username):
        raise InvalidInput(
            "Username must be 3 to 80 letters, digits, '.', '_' or '-'", {"username": username}
        )
    # Compared by the key, as names are: "ML-100K-1" is reserved as "ml-100k-1" is.
    key = username_key(username)
    if key.startswith(RESERVED_USERNAME_PREFIXES):
        prefixes = ", ".join(repr(prefix) for prefix in RESERVED_USERNAME_PREFIXES)
        raise InvalidInput(
            f"Usernames starting with {prefixes} (in any case) are reserved for the users of "
            "imported rating datasets; please choose another name",
            {"username": username},
        )
    _check_password_length(password)
    # "Alice" is taken once "alice" exists: names are compared by their key.
    if session.scalar(sa.select(User.id).where(User.username_key == key)) is not None:
        raise Conflict(f"User {username!r} already exists", {"username": username})
    user = User(
        username=username,
        username_key=key,
        password_hash=generate_password_hash(password, method=hash_method),
        is_admin=is_admin,
    )
    session.add(user)
    try:
        session.commit()
    except sa.exc.IntegrityError:
        # Two registrations of one name at once: the unique index decides, the loser hears why.
        session.rollback()
        raise Conflict(f"User {username!r} already exists", {"username": username}) from None
    return user


def _check_password_length(password: str) -> None:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise InvalidInput(
            f"Password must be at least {MIN_PASSWORD_LENGTH} characters"
            f" (and at most {MAX_PASSWORD_LENGTH})"
        )


def authenticate(
    session: Session, username: str, password: str, *, hash_method: str = "scrypt"
) -> User:
    """Return the user with these credentials, or raise :class:`InvalidCredentials`.

    The username may come in any case or Unicode form ("ALICE" signs in as "alice").
    """
    user = session.scalar(sa.select(User).where(User.username_key == username_key(username)))
    # Dataset users have no password and cannot sign in; unknown names cost the same hash
    # check as known ones, so response times do not reveal which names exist.
    stored = user.password_hash if user is not None and user.password_hash else None
    if not check_password_hash(stored or _dummy_hash(hash_method), password) or stored is None:
        raise InvalidCredentials("Invalid username or password")
    return user


def issue_token(
    session: Session, user: User, *, ttl: dt.timedelta, now: dt.datetime | None = None
) -> tuple[str, dt.datetime]:
    """Create a bearer token for ``user``; return the token (shown once) and its expiry."""
    token = secrets.token_urlsafe(32)
    expires_at = (now or utcnow()) + ttl
    session.add(ApiToken(user_id=user.id, token_hash=_hash_token(token), expires_at=expires_at))
    session.commit()
    return token, expires_at


def user_for_token(session: Session, token: str, *, now: dt.datetime | None = None) -> User | None:
    """Return the user a live token belongs to, or None for an unknown or expired token."""
    return session.scalar(
        sa.select(User)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == _hash_token(token), ApiToken.expires_at > (now or utcnow()))
    )


def revoke_token(session: Session, token: str) -> bool:
    """Delete a token; return whether it existed."""
    deleted = session.execute(
        sa.delete(ApiToken).where(ApiToken.token_hash == _hash_token(token))
    ).rowcount
    session.commit()
    return bool(deleted)


def end_sessions(session: Session, user_id: int) -> int:
    """Void every browser session and remember-me cookie of the user; return the new epoch."""
    epoch = _bump_session_epoch(session, user_id)
    session.commit()
    return epoch


def sign_out_everywhere(session: Session, user_id: int) -> None:
    """Revoke every API token of the user and end every browser session, in one transaction."""
    _delete_tokens(session, user_id, keep=None)
    _bump_session_epoch(session, user_id)
    session.commit()


def _delete_tokens(session: Session, user_id: int, keep: str | None) -> int:
    statement = sa.delete(ApiToken).where(ApiToken.user_id == user_id)
    if keep is not None:
        statement = statement.where(ApiToken.token_hash != _hash_token(keep))
    return session.execute(statement).rowcount


def _bump_session_epoch(session: Session, user_id: int) -> int:
    # One UPDATE adding 1 in the database: two sign-outs at once both count, none is lost.
    epoch = session.scalar(
        sa.update(User)
        .where(User.id == user_id)
        .values(session_epoch=User.session_epoch + 1)
        .returning(User.session_epoch)
    )
    if epoch is None:
        session.rollback()
        raise NotFound(f"User {user_id} does not exist", {"user_id": user_id})
    return epoch


def change_password(
    session: Session,
    user: User,
    current_password: str,
    new_password: str,
    *,
    hash_method: str = "scrypt",
    keep_token: str | None = None,
) -> int:
    """Set a new password after checking the current one; end the user's other sessions.

    Every browser session ends (the caller signs its own in again with the returned epoch) and
    every API token but ``keep_token`` is revoked. Nothing changes when a check fails.
    """
    if not user.password_hash or not check_password_hash(user.password_hash, current_password):
        raise WrongPassword("The current password is wrong", {"field": "current_password"})
    _check_password_length(new_password)
    user.password_hash = generate_password_hash(new_password, method=hash_method)
    _delete_tokens(session, user.id, keep=keep_token)
    epoch = _bump_session_epoch(session, user.id)
    session.commit()
    return epoch


@functools.cache
def _dummy_hash(method: str) -> str:
    return generate_password_hash(secrets.token_hex(16), method=method)
