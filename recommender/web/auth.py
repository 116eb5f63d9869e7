"""Sign up, sign in and sign out: Flask-Login sessions over the accounts service.

A session's user id is ``"<user id>:<session epoch>"`` (``SessionUser.get_id``), in the session
cookie and the remember-me cookie alike. The loader accepts it only while the epoch is the
user's current one, so sign-out, "sign out everywhere" and a password change, which bump the
epoch in the database, void every cookie issued before, even a copy an attacker kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from apiflask import APIBlueprint
from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import UserMixin, current_user, login_required, login_user, logout_user
from flask_login.config import COOKIE_NAME
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
    session_epoch: int

    @classmethod
    def of(cls, user: User) -> SessionUser:
        return cls(user.id, user.username, user.is_admin, user.session_epoch)

    def get_id(self) -> str:
        """What the cookies store: the user and the epoch their session belongs to."""
        return f"{self.id}:{self.session_epoch}"


@login_manager.user_loader
def load_user(session_id: str) -> SessionUser | None:
    """The signed-in user of the session or remember-me cookie, or None once it was ended.

    None too for an id without an epoch (a cookie from before sessions had one) and once the
    account is gone.
    """
    user_id, _, epoch = session_id.partition(":")
    if not (user_id.isdigit() and epoch.isdigit()):
        return None
    user = db.session.get(User, int(user_id))
    # Dataset users have no password: they never get a session, even a forged one.
    if user is None or not user.password_hash or user.session_epoch != int(epoch):
        return None
    return SessionUser.of(user)


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
        # Errors are shown on their field (aria-invalid + aria-describedby), not as a banner.
        errors: dict[str, str] = {}
        if password != request.form.get("password_again", ""):
            errors["password_again"] = "The two passwords differ."
        else:
            try:
                user = accounts.create_user(
                    db.session, username, password, hash_method=_hash_method()
                )
            except DomainError as error:
                field = "username" if "username" in (error.details or {}) else "password"
                errors[field] = error.message
            else:
                login_user(SessionUser.of(user))
                flash(f"Welcome, {user.username}!", "success")
                return redirect(url_for("pages.welcome"))
        return render_template("signup.html", username=username, errors=errors), 422
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
            # Either field may be wrong (saying which would tell who has an account).
            errors = {"password": error.message, "username": error.message}
            page = render_template("login.html", username=username, next=next_url, errors=errors)
            return page, 422
        login_user(SessionUser.of(user), remember=bool(request.form.get("remember")))
        flash(f"Signed in as {user.username}.", "success")
        if user.is_admin:
            # Administrators come to run the site: the admin page, not onboarding.
            default = url_for("site_admin.dashboard")
        else:
            count = onboarding.ratings_count(db.session, user.id)
            locked = not is_personal(count, current_settings().k)
            default = url_for("pages.welcome") if locked else url_for("pages.index")
        return redirect(safe_next(next_url, default))
    return render_template("login.html", username=username, next=next_url)


@bp.post("/logout")
@login_required
def logout() -> Response:
    """End the session (a POST with a CSRF token, so no other site can sign you out).

    Bumping the epoch voids this session's cookies wherever a copy of them is, and with them
    the user's sessions in other browsers: there is one epoch per user.
    """
    accounts.end_sessions(db.session, current_user.id)
    logout_user()
    flash("You are signed out.", "success")
    return redirect(url_for("pages.index"))


@bp.get("/account")
@login_required
def account() -> str:
    """The account page: change the password, sign out everywhere."""
    return render_template("account.html")


@bp.post("/account/password")
@login_required
def change_password() -> Response | tuple[str, int]:
    """Change the password: every other session and every API token of the user ends."""
    new_password = request.form.get("new_password", "")
    if new_password != request.form.get("new_password_again", ""):
        flash("The two new passwords differ.", "error")
        return render_template("account.html"), 422
    user = db.session.get(User, current_user.id)
    try:
        accounts.change_password(
            db.session,
            user,
            request.form.get("current_password", ""),
            new_password,
            hash_method=_hash_method(),
        )
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return render_template("account.html"), 422
    # This browser stays signed in, under the new epoch, remembered if it was.
    remembered = current_app.config.get("REMEMBER_COOKIE_NAME", COOKIE_NAME) in request.cookies
    login_user(SessionUser.of(user), remember=remembered)
    flash("Your password is changed; every other session has ended.", "success")
    return redirect(url_for("auth.account"))


@bp.post("/account/sign-out-everywhere")
@login_required
def sign_out_everywhere() -> Response:
    """End every browser session of the user, this one included, and revoke every API token."""
    accounts.sign_out_everywhere(db.session, current_user.id)
    logout_user()
    flash("You are signed out on every device, and your API tokens are revoked.", "success")
    return redirect(url_for("pages.index"))
