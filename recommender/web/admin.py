"""Administration: dataset import, site statistics with a histogram, the evaluation placeholder."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from apiflask import APIBlueprint, abort
from flask import render_template, request
from flask_login import current_user, login_required

from recommender.api.admin import upload_name
from recommender.extensions import db
from recommender.importers.catalogue import import_catalogue
from recommender.importers.runs import ImportBusy
from recommender.services import stats
from recommender.services.errors import DomainError, ImportRefused
from recommender.settings import current_settings
from recommender.web.charts import histogram
from recommender.web.common import user_id

bp = APIBlueprint("site_admin", __name__, url_prefix="/admin", enable_openapi=False)
KINDS = ("catalogue",)
View = TypeVar("View", bound=Callable[..., Any])


def admin_required(view: View) -> View:
    """Signed-in administrators only: others get the 403 page."""

    @wraps(view)
    @login_required
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_admin:
            abort(403, "This page is for administrators.")
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


@bp.get("")
@admin_required
def dashboard() -> str:
    """Site counts, the rating histogram and the evaluation section."""
    site = stats.site_stats(db.session, current_settings().rating_scale)
    return render_template("admin.html", site=site, chart=histogram(site["rating_histogram"]))


@bp.route("/import", methods=["GET", "POST"])
@admin_required
def import_dataset() -> str | tuple[str, int]:
    """Upload a dataset; show the import's report or the numbered lines that refused it."""
    if request.method == "GET":
        return render_template("admin_import.html", kinds=KINDS)
    kind = request.form.get("kind", "catalogue")
    upload = request.files.get("file")
    context: dict[str, Any] = {"kinds": KINDS, "kind": kind}
    if kind not in KINDS:
        context["failure"] = f"Unknown kind {kind!r}: choose one of {', '.join(KINDS)}."
    elif upload is None or not upload.filename:
        context["failure"] = "Choose a file to upload."
    else:
        try:
            report = import_catalogue(
                db.session,
                upload.stream,
                filename=upload_name(upload.filename),
                admin_id=user_id(),
                max_movies=current_settings().max_catalogue_movies,
            )
        except ImportRefused as error:
            context.update(failure=error.message, problems=error.details or [])
        except ImportBusy as error:  # Not the file's fault: a conflict, retried later.
            context["failure"] = error.message
            return render_template("admin_import.html", **context), 409
        except DomainError as error:
            context["failure"] = error.message
        else:
            return render_template("admin_import.html", report=report, **context)
    return render_template("admin_import.html", **context), 422
