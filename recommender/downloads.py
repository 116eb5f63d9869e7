"""File downloads the API and the pages share: a streamed CSV attachment."""

from __future__ import annotations

from collections.abc import Iterable

from flask import Response, stream_with_context


def csv_attachment(chunks: Iterable[str], filename: str) -> Response:
    """Stream ``chunks`` of CSV text as the attachment ``filename`` (a plain ASCII name)."""
    return Response(
        # The request context stays until the last chunk: the chunks read the database.
        stream_with_context(chunks),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            # One user's own data: never kept by a shared cache.
            "Cache-Control": "private, no-store",
        },
    )
