"""Users and passwords."""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from recommender.models import User
from recommender.services.errors import Conflict, InvalidInput

USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{3,80}$")
MIN_PASSWORD_LENGTH = 8


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
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"Password must be at least {MIN_PASSWORD_LENGTH} characters")
    if session.scalar(sa.select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"User {username!r} already exists", {"username": username})
    user = User(
        username=username,
        password_hash=generate_password_hash(password, method=hash_method),
        is_admin=is_admin,
    )
    session.add(user)
    session.commit()
    return user
