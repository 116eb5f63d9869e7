"""``GET /healthz``: the app answers and its database answers."""

from __future__ import annotations

from apiflask import APIBlueprint
from sqlalchemy import text

from recommender.extensions import db

bp = APIBlueprint("health", __name__, tag="Health")


@bp.get("/healthz")
@bp.doc(responses={200: "The service and its database answer", 503: "The database is unreachable"})
def healthz() -> dict[str, str]:
    """Report that the service and its database are reachable (503 while the database is not).

    An unreachable database raises here like anywhere else; errors.py turns it into the 503 (with
    ``details: {"database": "unreachable"}``) a load balancer reads.
    """
    db.session.execute(text("SELECT 1"))
    return {"status": "ok"}
