"""Administration: site statistics, dataset imports and evaluations as background jobs, the
list of past import runs and the last stored evaluation.

An import or an evaluation is a job (services/jobs.py): the request stores it and returns at
once (a redirect to the job's page, or the evaluation box), a worker thread or ``recommender
worker`` runs it (recommender/jobs.py), and the page polls the job's status partial until it
has ended.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from apiflask import APIBlueprint, abort
from flask import current_app, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response

from recommender import jobs as runners
from recommender.api.admin import upload_name
from recommender.extensions import db
from recommender.importers.runs import ImportBusy
from recommender.services import evaluation, jobs, stats
from recommender.services.errors import DomainError, InvalidInput
from recommender.settings import current_settings
from recommender.web.charts import histogram
from recommender.web.common import WHOLE_NUMBER, int_arg, is_htmx, user_id
from recommender.web.curve_chart import curve

bp = APIBlueprint("site_admin", __name__, url_prefix="/admin", enable_openapi=False)
KINDS = jobs.IMPORT_KINDS
RUNS_PER_PAGE = 20
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


def _stale_after() -> dt.timedelta:
    return dt.timedelta(hours=current_settings().import_stale_hours)


def _evaluation_context() -> dict[str, Any]:
    """The Evaluation box: the last stored result with its charts, a running job if any."""
    stored = evaluation.latest_evaluation(db.session)
    charts = {}
    if stored is not None:
        rows = stored["curve"]
        charts["rmse"] = curve([(r["k"], r.get("rmse")) for r in rows], best_k=stored["best_k"])
        most_rated = stored["ranking_baselines"].get("most_rated", {}).get("ndcg")
        charts["ndcg"] = curve(
            [(r["k"], r.get("ndcg")) for r in rows], best_k=stored["best_k"], baseline=most_rated
        )
    running = jobs.active_job(db.session, jobs.EVALUATE, _stale_after())
    last = None if running else jobs.last_job(db.session, jobs.EVALUATE, _stale_after())
    failed = last if last and last["status"] == "failed" else None
    return {
        "stored": stored,
        "charts": charts,
        "eval_job": running,
        "eval_failed": failed,
        "eval_error": None,
    }


@bp.get("")
@admin_required
def dashboard() -> str:
    """Site counts, the rating histogram, past import runs (paged) and the evaluation box."""
    site = stats.site_stats(db.session, current_settings().rating_scale)
    runs = stats.list_import_runs(db.session, int_arg("page") or 1, RUNS_PER_PAGE)
    return render_template(
        "admin.html",
        site=site,
        chart=histogram(site["rating_histogram"]),
        runs=runs,
        import_job=jobs.active_job(db.session, jobs.IMPORT, _stale_after()),
        **_evaluation_context(),
    )


def _import_page(status: int = 200, **context: Any) -> tuple[str, int]:
    limit = current_settings().max_upload_mb
    context = {"kind": None, "failure": None, "running": {}, **context}
    page = render_template("admin_import.html", kinds=KINDS, max_upload_mb=limit, **context)
    return page, status


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(_error: RequestEntityTooLarge) -> tuple[str, int]:
    """Past MAX_UPLOAD_MB (refused while the CSRF check reads the form, before the view): the
    import page, pointing to the command line."""
    if not (current_user.is_authenticated and current_user.is_admin):
        message = "The request body is larger than the MAX_UPLOAD_MB setting allows."
        return render_template("error.html", status=413, message=message), 413
    limit = current_settings().max_upload_mb
    failure = (
        f"The file is larger than the {limit} MiB a browser may upload (MAX_UPLOAD_MB). Import "
        "a dataset that size on the server: recommender import movielens PATH (or recommender "
        "import catalogue PATH)."
    )
    return _import_page(413, failure=failure)


@bp.route("/import", methods=["GET", "POST"])
@admin_required
def import_dataset() -> Response | tuple[str, int]:
    """Upload a MovieLens zip or a catalogue file: the import runs as a background job and the
    browser goes to its page; a 409 while another import runs, 413 past MAX_UPLOAD_MB."""
    if request.method == "GET":
        return _import_page()
    kind = request.form.get("kind", "movielens")
    upload = request.files.get("file")
    if kind not in KINDS:
        return _import_page(
            422, kind=kind, failure=f"Unknown kind {kind!r}: choose one of {', '.join(KINDS)}."
        )
    if upload is None or not upload.filename:
        return _import_page(422, kind=kind, failure="Choose a file to upload.")
    data = upload.stream.read()
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # noqa: SLF001
    backend = runners.backend_for(app)
    try:
        job = jobs.create_import_job(
            db.session,
            import_kind=kind,
            filename=upload_name(upload.filename),
            data=data,
            admin_id=user_id(),
            backend=backend,
            stale_after=_stale_after(),
        )
    except ImportBusy as error:
        running = (error.details or {}).get("running", {})
        return _import_page(409, kind=kind, failure=error.message, running=running)
    except DomainError as error:
        return _import_page(422, kind=kind, failure=error.message)
    runners.dispatch(app, job.id, backend)
    return redirect(url_for(".job_page", job_id=job.id), code=303)


def _job_or_404(job_id: int) -> dict[str, Any]:
    return jobs.job_view(db.session, job_id, _stale_after())


@bp.get("/jobs/<int:job_id>")
@admin_required
def job_page(job_id: int) -> str:
    """A job's page: its progress while it runs (polled), then its report."""
    return render_template("admin_job.html", job=_job_or_404(job_id))


@bp.get("/jobs/<int:job_id>/status")
@admin_required
def job_status(job_id: int) -> str:
    """The job's status partial, which htmx polls until the job has ended."""
    return render_template("_admin_job_status.html", job=_job_or_404(job_id))


def _ks(text: str) -> list[int] | None:
    parts = [part.strip() for part in text.replace(" ", ",").split(",") if part.strip()]
    if not parts or not all(WHOLE_NUMBER.fullmatch(part) for part in parts):
        return None
    return [int(part) for part in parts]


def _evaluation_box(status: int = 200, **context: Any) -> tuple[str, int]:
    context = {**_evaluation_context(), **context}
    return render_template("_admin_evaluation.html", **context), status


@bp.get("/evaluation")
@admin_required
def evaluation_box() -> tuple[str, int]:
    """The Evaluation box alone: htmx polls it while an evaluation runs."""
    return _evaluation_box()


@bp.post("/evaluations")
@admin_required
def start_evaluation() -> Response | tuple[str, int]:
    """Start an evaluation of the database's ratings in the background; htmx gets the box
    back (polling until it is filled in), a plain form a redirect to the dashboard."""
    folds_text = request.form.get("folds", "5").strip()
    ks = _ks(request.form.get("ks", "5,10,20,40"))
    folds = int(folds_text) if WHOLE_NUMBER.fullmatch(folds_text) else 0
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # noqa: SLF001
    try:
        if ks is None:
            raise InvalidInput("k values must be whole numbers separated by commas")
        backend = runners.backend_for(app)
        job = jobs.create_evaluation_job(
            db.session,
            folds=folds,
            ks=ks,
            admin_id=user_id(),
            backend=backend,
            stale_after=_stale_after(),
        )
    except DomainError as error:
        status = 409 if isinstance(error, jobs.EvaluationBusy) else 422
        if is_htmx():
            return _evaluation_box(status, eval_error=error.message)
        abort(status, error.message)
    runners.dispatch(app, job.id, backend)
    if is_htmx():
        return _evaluation_box()
    return redirect(url_for(".dashboard") + "#evaluation", code=303)
