"""Keep a staged import's new ratings in a temporary file, not in memory.

A staged SQLite import (``writer``) writes nothing until the whole file has been read and
checked. Its new ratings are most of what it keeps: as Python tuples, about 230 bytes each
(5.7 GB for MovieLens 25M); here, 33 bytes each in a file of fixed-size records that is read
back in chunks, in the order written, when the import writes.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from typing import IO

import numpy as np

# A rating's time as the writer keeps it (``writer.Stamp``): whole seconds, a datetime or None.
Stamp = int | dt.datetime | None
Row = tuple[int, int, float, Stamp]

# kind: 0 whole seconds in ``stamp``, 1 microseconds since 1970 in ``stamp``, 2 no time.
RECORD = np.dtype(
    [("user", "<i8"), ("movie", "<i8"), ("rating", "<f8"), ("stamp", "<i8"), ("kind", "u1")]
)
SECONDS, MICROSECONDS, NO_TIME = 0, 1, 2
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class RatingSpool:
    """An append-only file of (user id, movie id, rating, stamp) rows."""

    def __init__(self) -> None:
        self._file: IO[bytes] | None = None
        self.rows = 0

    def __len__(self) -> int:
        return self.rows

    def append(self, rows: list[Row]) -> None:
        """Add ``rows`` at the end of the file."""
        if not rows:
            return
        if self._file is None:
            # Closed by close(), which the writer calls however the import ends.
            self._file = tempfile.TemporaryFile(prefix="recommender-import-")  # noqa: SIM115
        records = np.empty(len(rows), RECORD)
        users, movies, ratings, stamps = zip(*rows, strict=True)
        records["user"], records["movie"], records["rating"] = users, movies, ratings
        if all(type(stamp) is int for stamp in stamps):  # MovieLens: every line's time
            records["stamp"], records["kind"] = stamps, SECONDS
        else:
            records["stamp"], records["kind"] = zip(*map(_encoded, stamps), strict=True)
        records.tofile(self._file)
        self.rows += len(rows)

    def read(self, start: int, count: int) -> np.ndarray:
        """Return up to ``count`` records from record ``start`` on, in the order written."""
        count = max(0, min(count, self.rows - start))
        if self._file is None or count == 0:
            return np.empty(0, RECORD)
        self._file.flush()
        self._file.seek(start * RECORD.itemsize)
        return np.fromfile(self._file, RECORD, count=count)

    def close(self) -> None:
        """Delete the file (the rows are gone)."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self.rows = 0


def _encoded(stamp: Stamp) -> tuple[int, int]:
    if type(stamp) is int:
        return stamp, SECONDS
    if stamp is None:
        return 0, NO_TIME
    assert isinstance(stamp, dt.datetime)
    return (stamp - EPOCH) // dt.timedelta(microseconds=1), MICROSECONDS


def decoded(records: np.ndarray) -> tuple[list[Row], list[Row]]:
    """Return ``records`` as rows: those of whole-second stamps, and the others."""
    whole = records["kind"] == SECONDS
    columns = ("user", "movie", "rating", "stamp")
    if whole.all():
        return list(zip(*(records[c].tolist() for c in columns), strict=True)), []
    seconds, other = records[whole], records[~whole]
    rows: list[Row] = list(zip(*(seconds[c].tolist() for c in columns), strict=True))
    others: list[Row] = [
        (user, movie, rating, _stamp(stamp, kind))
        for user, movie, rating, stamp, kind in zip(
            *(other[c].tolist() for c in (*columns, "kind")), strict=True
        )
    ]
    return rows, others


def _stamp(stamp: int, kind: int) -> Stamp:
    if kind == NO_TIME:
        return None
    return EPOCH + dt.timedelta(microseconds=stamp)
