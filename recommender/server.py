"""Run the app under gunicorn from Python (``recommender serve``)."""

from __future__ import annotations

from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication


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
    }
    _EmbeddedGunicorn(app, options).run()
