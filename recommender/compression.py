"""Compressed responses (Flask-Compress): brotli or gzip for pages, JSON, CSS and JS.

The signed-in catalogue page is 123 KB of HTML, mostly repeated star widgets: 5.7 KB in gzip,
4.9 KB in brotli. What is left alone, and why:

- CSV downloads (``recommender/downloads.py``) stream row by row; text/csv is not in the
  compressed types, so they keep streaming exactly as before (no buffering, no encoding).
- Small bodies (under 500 bytes: a JSON error, a rating widget's answer) cost more to
  compress than they save.
- No zstd: Python 3.11 has no zstd module and Flask-Compress would need one.

The recommendation API's cached JSON body is compressed per request, and only when the client
asks for it (Accept-Encoding); the cache keeps the plain bytes.
"""

from __future__ import annotations

from flask import Flask
from flask_compress import Compress

compress = Compress()
ALGORITHMS = ["br", "gzip"]


def init_app(app: Flask) -> None:
    app.config.setdefault("COMPRESS_ALGORITHM", ALGORITHMS)
    # gzip cannot be flushed chunk by chunk in Flask-Compress: streams get brotli only.
    app.config.setdefault("COMPRESS_ALGORITHM_STREAMING", ["br"])
    compress.init_app(app)
