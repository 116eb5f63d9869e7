"""Bearer-token authentication for the API (the browser's session cookie is never accepted)."""

from __future__ import annotations

from apiflask import HTTPTokenAuth

from recommender.extensions import db
from recommender.models import User
from recommender.services import accounts

token_auth = HTTPTokenAuth(scheme="Bearer", description="A token from POST /api/v1/auth/tokens")


@token_auth.verify_token
def verify_token(token: str) -> User | None:
    return accounts.user_for_token(db.session, token) if token else None


@token_auth.get_user_roles
def user_roles(user: User) -> list[str]:
    return ["admin", "user"] if user.is_admin else ["user"]


def current_user() -> User:
    """The authenticated user of this request (inside a route that requires a token)."""
    return token_auth.current_user
