"""``/api/v1/auth``: register, and get or revoke a bearer token."""

from __future__ import annotations

import datetime as dt
from typing import Any

from apiflask import APIBlueprint

from recommender.api.auth import current_user, token_auth
from recommender.api.schemas import (
    CredentialsIn,
    RegistrationIn,
    RevokeTokensQuery,
    TokenOut,
    UserOut,
)
from recommender.extensions import db
from recommender.models import User
from recommender.services import accounts
from recommender.settings import current_settings

bp = APIBlueprint("accounts", __name__, url_prefix="/api/v1/auth", tag="Auth")


@bp.post("/register")
@bp.input(RegistrationIn, arg_name="credentials")
@bp.output(UserOut, status_code=201, description="The new account")
@bp.doc(responses=[400, 409, 413])
def register(credentials: dict[str, str]) -> User:
    """Create an account."""
    return accounts.create_user(
        db.session,
        credentials["username"],
        credentials["password"],
        hash_method=current_settings().password_hash_method,
    )


@bp.post("/tokens")
@bp.input(CredentialsIn, arg_name="credentials")
@bp.output(TokenOut, status_code=201, description="A new token, shown only this once")
@bp.doc(responses=[400, 401, 413])
def create_token(credentials: dict[str, str]) -> dict[str, Any]:
    """Exchange a username and password for a bearer token."""
    settings = current_settings()
    user = accounts.authenticate(
        db.session,
        credentials["username"],
        credentials["password"],
        hash_method=settings.password_hash_method,
    )
    ttl = dt.timedelta(hours=settings.token_ttl_hours)
    token, expires_at = accounts.issue_token(db.session, user, ttl=ttl)
    return {"token": token, "expires_at": expires_at}


@bp.delete("/tokens")
@bp.auth_required(token_auth)
@bp.input(RevokeTokensQuery, location="query", arg_name="query")
@bp.output(
    {}, status_code=204, description="The token (with `all=true`: every token) no longer works"
)
def revoke_token(query: dict[str, bool]) -> str:
    """Revoke the token this request was made with (sign out); `all=true` signs out everywhere.

    With `all=true` every API token of the account is revoked and every browser session and
    remember-me cookie ends.
    """
    if query["all"]:
        accounts.sign_out_everywhere(db.session, current_user().id)
    else:
        accounts.revoke_token(db.session, token_auth.get_auth().token)
    return ""
