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
from recommender.services.errors import Conflict, InvalidInput

USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{3,80}$")
# Imported rating datasets name their users "<dataset>-<id>" ("ml-100k-1"): a local account
# under such a name would make a later import of that dataset fail on a taken name.
RESERVED_USERNAME_PREFIXES = ("ml-",)
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 200


class InvalidCredentials(InvalidInput):
    """Wrong username or password, or an account that cannot sign in."""

    code = "invalid_credentials"


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
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise InvalidInput(
            f"Password must be at least {MIN_PASSWORD_LENGTH} characters"
            f" (and at most {MAX_PASSWORD_LENGTH})"
        )
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


@functools.cache
def _dummy_hash(method: str) -> str:
    return generate_password_hash(secrets.token_hex(16), method=method)
