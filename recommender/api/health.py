"""``GET /healthz``: the app answers and its database answers."""

from __future__ import annotations

from apiflask import APIBlueprint
from sqlalchemy import text

from recommender.extensions import db

bp = APIBlueprint("health", __name__, tag="Health")


@bp.get("/healthz")
def healthz() -> dict[str, str]:
    """Report that the service and its database are reachable."""
    db.session.execute(text("SELECT 1"))
    return {"status": "ok"}
