"""Sign up, sign in and sign out: Flask-Login sessions over the accounts service."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from apiflask import APIBlueprint
from flask import flash, redirect, render_template, request, url_for
from flask_login import UserMixin, current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from recommender.engine.predictor import is_personal
from recommender.extensions import db, login_manager
from recommender.models import User
from recommender.services import accounts, onboarding
from recommender.services.errors import DomainError
from recommender.settings import current_settings

bp = APIBlueprint("auth", __name__, enable_openapi=False)

login_manager.login_view = "auth.login"
login_manager.login_message = "Please sign in to see that page."
login_manager.login_message_category = "info"


@dataclass(frozen=True)
class SessionUser(UserMixin):
    """The signed-in user as Flask-Login sees it: plain values, not a database row."""

    id: int
    username: str
    is_admin: bool

    @classmethod
    def of(cls, user: User) -> SessionUser:
        return cls(user.id, user.username, user.is_admin)


@login_manager.user_loader
def load_user(user_id: str) -> SessionUser | None:
    """The signed-in user of the session cookie (None once the account is gone)."""
    user = db.session.get(User, int(user_id)) if user_id.isdigit() else None
    # Dataset users have no password: they never get a session, even a forged one.
    return SessionUser.of(user) if user is not None and user.password_hash else None


@login_manager.unauthorized_handler
def unauthorized() -> Response | tuple[str, int]:
    """Send browsers to the sign-in page; htmx requests get a 401 the page script explains."""
    if request.headers.get("HX-Request"):
        return "Your session has ended: please sign in again.", 401
    flash(login_manager.login_message, "info")
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def safe_next(target: str | None, default: str) -> str:
    """Return ``target`` if it is a path on this site, else ``default`` (no open redirects)."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target


def _hash_method() -> str:
    return current_settings().password_hash_method


@bp.route("/signup", methods=["GET", "POST"])
def signup() -> Response | str | tuple[str, int]:
    """Create an account and sign in; new users go on to the onboarding page."""
    if current_user.is_authenticated:
        return redirect(url_for("pages.index"))
    username = request.form.get("username", "").strip()
    if request.method == "POST":
        password = request.form.get("password", "")
        if password != request.form.get("password_again", ""):
            flash("The two passwords differ.", "error")
        else:
            try:
                user = accounts.create_user(
                    db.session, username, password, hash_method=_hash_method()
                )
            except DomainError as error:
                flash(error.message, "error")
            else:
                login_user(SessionUser.of(user))
                flash(f"Welcome, {user.username}!", "success")
                return redirect(url_for("pages.welcome"))
        return render_template("signup.html", username=username), 422
    return render_template("signup.html", username=username)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str | tuple[str, int]:
    """Sign in with a username and password."""
    if current_user.is_authenticated:
        return redirect(url_for("pages.index"))
    username = request.form.get("username", "").strip()
    next_url = request.values.get("next", "")
    if request.method == "POST":
        try:
            user = accounts.authenticate(
                db.session, username, request.form.get("password", ""), hash_method=_hash_method()
            )
        except accounts.InvalidCredentials as error:
            flash(error.message, "error")
            return render_template("login.html", username=username, next=next_url), 422
        login_user(SessionUser.of(user), remember=bool(request.form.get("remember")))
        flash(f"Signed in as {user.username}.", "success")
        count = onboarding.ratings_count(db.session, user.id)
        locked = not is_personal(count, current_settings().k)
        default = url_for("pages.welcome") if locked else url_for("pages.index")
        return redirect(safe_next(next_url, default))
    return render_template("login.html", username=username, next=next_url)


@bp.post("/logout")
@login_required
def logout() -> Response:
    """End the session (a POST with a CSRF token, so no other site can sign you out)."""
    logout_user()
    flash("You are signed out.", "success")
    return redirect(url_for("pages.index"))
