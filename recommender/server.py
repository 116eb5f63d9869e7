"""Run the app under gunicorn from Python (``recommender serve``)."""

from __future__ import annotations

from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from recommender.extensions import db


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


def run_gunicorn(app: Flask, *, host: str, port: int, workers: int) -> None:
    """Block serving ``app`` on ``host:port`` with ``workers`` threaded worker processes."""
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": 4,
        "accesslog": "-",
        "errorlog": "-",
        "post_fork": lambda _server, _worker: _forget_inherited_connections(app),
    }
    _EmbeddedGunicorn(app, options).run()


def _forget_inherited_connections(app: Flask) -> None:
    """Drop the database connections a worker inherited from the master.

    The app (and its pool) is built before gunicorn forks: a connection the master opened at
    start (interrupted-import check, feature store) must not be shared by two processes, or
    their queries interleave on one socket. ``close=False`` leaves the parent's sockets alone.
    """
    with app.app_context():
        db.engine.dispose(close=False)
