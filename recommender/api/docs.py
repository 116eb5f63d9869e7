"""``GET /api/v1/docs``: Swagger UI over the OpenAPI document, from vendored files only.

APIFlask's own docs page initialises Swagger UI in an inline script, which the
Content-Security-Policy (``script-src 'self'``, recommender/security.py) forbids; this page
loads the same vendored bundle and starts it from static/api-docs.js instead.
"""

from __future__ import annotations

from apiflask import APIBlueprint
from flask import render_template

bp = APIBlueprint("docs", __name__, url_prefix="/api/v1", enable_openapi=False)


@bp.get("/docs")
def page() -> str:
    """The interactive API reference."""
    return render_template("api_docs.html")
