"""Compressed responses (Flask-Compress): brotli or gzip for pages and JSON.

The signed-in catalogue page is 123 KB of HTML, mostly repeated star widgets: 5.7 KB in gzip,
4.9 KB in brotli. What is left alone, and why:

- Streamed responses: CSV downloads (``recommender/downloads.py``, row by row) and static
  files (sent as a file wrapper). Flask-Compress's stream compression never closes the
  wrapped file (a ResourceWarning per static file, a descriptor held until garbage
  collection) and would re-encode the CSV chunk by chunk; COMPRESS_STREAMS off leaves both
  exactly as before. Static files are small and cached by the browser.
- Small bodies (under 500 bytes: a JSON error, a redirect) cost more to
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
    app.config.setdefault("COMPRESS_STREAMS", False)
    compress.init_app(app)
