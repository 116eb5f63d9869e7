"""Run the app under gunicorn from Python (``recommender serve``).

Besides binding and workers, the options here close what gunicorn's defaults leave open:

- no ``Server: gunicorn`` header (it names the software for anyone probing versions);
- no control socket: gunicorn 25+ opens one at ``$HOME/.gunicorn/gunicorn.ctl`` by default,
  shared by every gunicorn of that user on the host (the second server takes it over); we
  manage workers with signals and never use ``gunicornc``;
- the request line may be up to gunicorn's maximum (8,190 bytes, its default 4,094) so that
  the app itself refuses a URL over its own limit (recommender/security.py, MAX_URL_BYTES,
  8,000) with a 414 that is JSON under /api; only a line past 8,190 bytes, which gunicorn
  cannot parse into a path, still gets gunicorn's plain 414.
"""

from __future__ import annotations

from typing import Any

import gunicorn.http.wsgi
from flask import Flask
from gunicorn.app.base import BaseApplication

from recommender.extensions import db

# gunicorn's ceiling for limit_request_line (its default is 4,094).
GUNICORN_MAX_REQUEST_LINE = 8190


class _ResponseWithoutServerHeader(gunicorn.http.wsgi.Response):
    """gunicorn's response minus its ``Server:`` line (gunicorn has no setting for it)."""

    def default_headers(self) -> list[str]:
        return [line for line in super().default_headers() if not line.startswith("Server:")]


class _EmbeddedGunicorn(BaseApplication):
    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.application


def gunicorn_options(app: Flask, *, host: str, port: int, workers: int) -> dict[str, Any]:
    """The gunicorn settings ``recommender serve`` runs with."""
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": 4,
        "accesslog": "-",
        "errorlog": "-",
        "limit_request_line": GUNICORN_MAX_REQUEST_LINE,
        "control_socket_disable": True,
        "post_fork": lambda _server, _worker: _forget_inherited_connections(app),
    }


def run_gunicorn(app: Flask, *, host: str, port: int, workers: int) -> None:
    """Block serving ``app`` on ``host:port`` with ``workers`` threaded worker processes."""
    # gunicorn builds every response through this module attribute: ours drops the header.
    gunicorn.http.wsgi.Response = _ResponseWithoutServerHeader
    options = gunicorn_options(app, host=host, port=port, workers=workers)
    _EmbeddedGunicorn(app, options).run()


def _forget_inherited_connections(app: Flask) -> None:
    """Drop the database connections a worker inherited from the master.

    The app (and its pool) is built before gunicorn forks: a connection the master opened at
    start (interrupted-import check, feature store) must not be shared by two processes, or
    their queries interleave on one socket. ``close=False`` leaves the parent's sockets alone.
    """
    with app.app_context():
        db.engine.dispose(close=False)
