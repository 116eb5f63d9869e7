"""``GET /healthz``: the app answers and its database answers."""

from __future__ import annotations

from apiflask import APIBlueprint
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from recommender.errors import database_unavailable, database_unavailable_error
from recommender.extensions import db

bp = APIBlueprint("health", __name__, tag="Health")


@bp.get("/healthz")
@bp.doc(responses={200: "The service and its database answer", 503: "The database is unreachable"})
def healthz() -> dict[str, str]:
    """Report that the service and its database are reachable (503 while the database is not)."""
    try:
        db.session.execute(text("SELECT 1"))
    except DBAPIError as error:
        if not database_unavailable(error):
            raise
        # A load balancer reads the status; the body says which dependency is down.
        raise database_unavailable_error() from error
    return {"status": "ok"}
