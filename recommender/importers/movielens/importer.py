"""Import a MovieLens dataset (100K, 1M, latest/25M or RecBole atomic files), all or nothing.

The dataset comes from ``sources`` (a folder or a zip), is read through its ``layouts`` entry
and written by ``writer``. One pass over the ratings both validates and writes inside one
transaction: after the first problem nothing more is written, the scan goes on to collect up
to ``MAX_PROBLEMS`` problems, and the transaction is rolled back, so a refused file leaves the
data as it was. On SQLite the writer stages its writes during that pass and makes them at the
end in short transactions (``Writer.apply``), so raters are not locked out meanwhile.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy.orm import Session

from recommender.engine.scale import RatingScale
from recommender.importers.limits import DEFAULT_MAX_CATALOGUE_MOVIES
from recommender.importers.matching import RULES
from recommender.importers.movielens.layouts import DatasetMovie, Layout, choose_layout
from recommender.importers.movielens.sources import DatasetFiles, DatasetRefused, open_dataset
from recommender.importers.movielens.writer import (
    CatalogueFull,
    RepeatedRating,
    Stamp,
    Writer,
    as_datetime,
)
from recommender.importers.problems import Problems, TooManyProblems, refusal
from recommender.importers.runs import Progress, finish_run, tracked_run
from recommender.importers.text import NUMBER
from recommender.models import ImportStatus

KIND = "movielens"
# The id rule of a layout whose ``whole_ids`` is set (MovieLens); others take free tokens.
WHOLE_ID = re.compile(r"\s*\d{1,18}\s*")
MAX_EXTERNAL_ID = 64
EXTERNAL_ID = re.compile(rf"\S{{1,{MAX_EXTERNAL_ID}}}")
REPEATED_RATING = "a user rates one movie on two lines (further apart than one batch)"


# --------------------------------------------------------------------------------------------
# Validation of one line
# --------------------------------------------------------------------------------------------


def _check_id(location: str, what: str, value: str, problems: Problems) -> str | None:
    value = value.strip()
    if not EXTERNAL_ID.fullmatch(value):
        problems.add(location, f"{what} must be an id of 1 to {MAX_EXTERNAL_ID} characters")
        return None
    return value


def _check_rating(location: str, text: str, scale: RatingScale, problems: Problems) -> float | None:
    text = text.strip()
    if not NUMBER.fullmatch(text) or not math.isfinite(value := float(text)):
        problems.add(location, f"rating must be a number, got {text[:40]!r}")
        return None
    if not 0 < value <= 10:
        problems.add(location, f"rating must be greater than 0 and at most 10, got {value:g}")
        return None
    if (problem := scale.problem(value)) is not None:
        problems.add(location, problem)
        return None
    return value


def _check_timestamp(location: str, text: str | None, problems: Problems) -> dt.datetime | None:
    if text is None:
        return None
    text = text.strip()
    try:
        seconds = float(text) if NUMBER.fullmatch(text) else math.nan
        # A rating cannot predate 1970 (MovieLens began in 1997) nor be given tomorrow.
        if not 0 <= seconds <= time.time() + 86400:
            raise ValueError
        return dt.datetime.fromtimestamp(seconds, dt.UTC)
    except (ValueError, OverflowError, OSError):
        problems.add(
            location, f"timestamp must be seconds since 1970, up to now, got {text[:40]!r}"
        )
        return None


def _whole_ids(location: str, user: str, item: str, problems: Problems) -> bool:
    """Return whether both ids of a MovieLens line are whole numbers; add a problem if not."""
    ok = True
    for what, value in (("user id", user), ("movie id", item)):
        if not WHOLE_ID.fullmatch(value):
            problems.add(location, f"{what} must be a whole number, got {value[:40]!r}")
            ok = False
    return ok


# --------------------------------------------------------------------------------------------
# The import
# --------------------------------------------------------------------------------------------


@dataclass
class MovieLensReport:
    run_id: int
    kind: str
    filename: str
    status: ImportStatus
    layout: str
    dataset: str
    counts: dict[str, int] = field(default_factory=dict)
    # Rule -> movies matched by it (the rules of importers.matching), from ``counts``.
    matched_by: dict[str, int] = field(default_factory=dict)
    # Every movie inserted beside rows it may be: {kind, location, message, movie_id,
    # duplicates: [{id, title, year}]} (also in the run's notes).
    possible_duplicates: list[dict[str, Any]] = field(default_factory=list)
    # SQLite's staged writes: how many write transactions, and the longest one held the
    # database, in s (0 when the writes went out as they were read).
    write_seconds: float = 0.0
    write_transactions: int = 0

    def summary(self) -> str:
        """Return the lines saying what the import did."""
        c = self.counts
        rules = ", ".join(f"{rule.replace('_', ' ')} {n:,}" for rule, n in self.matched_by.items())
        lines = [
            f"Imported {self.filename} ({self.layout} layout, dataset {self.dataset}):",
            f"  movies: {c['movies_matched_catalogue']:,} matched with the catalogue, "
            f"{c['movies_inserted']:,} inserted, {c['movies_known']:,} known from an earlier "
            f"import, {c['movies_merged']:,} merged as duplicates",
            f"  matched by: {rules}; inserted as possible duplicates (not guessed): "
            f"{c['movies_possible_duplicates']:,}",
            f"  users: {c['users_inserted']:,} inserted, {c['users_existing']:,} existing",
            f"  ratings: {c['ratings_inserted']:,} inserted, {c['ratings_updated']:,} updated, "
            f"{c['ratings_unchanged']:,} unchanged, {c['ratings_merged']:,} merged "
            f"(one user, two ids of one movie)",
        ]
        if c.get("movies_genres_filled"):
            lines.append(
                f"  genres: {c['movies_genres_filled']:,} matched catalogue films without"
                " genres took the dataset's"
            )
        if c.get("titles_repaired"):
            lines.append(
                f"  text: {c['titles_repaired']:,} mis-decoded titles repaired (the run's notes)"
            )
        if self.write_transactions == 1:
            lines.append(
                f"  written in one transaction of {self.write_seconds:.2f} s "
                "(the database was locked for writers only that long)"
            )
        elif self.write_transactions:
            lines.append(
                f"  written in {self.write_transactions:,} transactions, the longest "
                f"{self.write_seconds:.2f} s (writers waited at most that long at a time)"
            )
        lines += [f"  {note['location']}: {note['message']}" for note in self.possible_duplicates]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Return the report as plain JSON-ready data."""
        return asdict(self)


def _later_first(rated_at: Stamp) -> dt.datetime:
    """Return the sort key of a timestamp; a missing one sorts first."""
    return dt.datetime.min.replace(tzinfo=dt.UTC) if rated_at is None else as_datetime(rated_at)


def _read_movies(files: DatasetFiles, layout: Layout, problems: Problems) -> list[DatasetMovie]:
    movies = []
    seen: dict[str, str] = {}
    for movie in layout.read_movies(files, problems, [0]):
        if _check_id(movie.location, "movie id", movie.external_id, problems) is None:
            continue
        if layout.whole_ids and not WHOLE_ID.fullmatch(movie.external_id):
            problems.add(
                movie.location, f"movie id must be a whole number, got {movie.external_id!r}"
            )
            continue
        if (first := seen.setdefault(movie.external_id, movie.location)) != movie.location:
            problems.add(movie.location, f"movie id {movie.external_id} repeats {first}")
            continue
        if not movie.title or len(movie.title) > 300:
            problems.add(movie.location, "the title must have 1 to 300 characters")
            continue
        movies.append(movie)
    return movies


def _movie_notes(movies: list[DatasetMovie]) -> list[dict[str, Any]]:
    """Return the notes of ``movies`` in the shape stored on the import run."""
    return [
        {"kind": "corrected", "location": movie.location, "message": message}
        for movie in movies
        for message in movie.notes
    ] + [
        {
            "kind": "repaired",
            "location": movie.location,
            "message": f"title {movie.mis_decoded_title!r} was mis-decoded: read as "
            f"{movie.title!r}",
        }
        for movie in movies
        if movie.mis_decoded_title is not None
    ]


# The loop's marker for a timestamp its fast path did not read (the full check reads it).
_UNREAD = object()


class _RatingsImport:
    """Stream the ratings: validate every line, write in batches until the first problem.

    The loop is the import's hot path (25 million lines for the 25M layout), so it first tries
    dictionary look-ups of values already seen valid (user ids, movie ids, rating texts) and
    reads plain whole-second timestamps directly; any other line goes through the full checks
    (``_checked``), in their usual order and with their usual messages. Memory stays at one
    batch plus the id maps, whatever the file's size.
    """

    def __init__(
        self,
        files: DatasetFiles,
        layout: Layout,
        writer: Writer,
        scale: RatingScale,
        problems: Problems,
        progress: Progress | None,
    ) -> None:
        self.layout, self.writer, self.scale = layout, writer, scale
        self.problems, self.progress = problems, progress
        self.counter = [0]
        self.total = files.sizes[layout.ratings]
        self.batch: dict[tuple[str, int], tuple[float, Stamp]] = {}
        # Users of the batch with no account yet -> the location of their first line.
        self.new_users: dict[str, str] = {}
        # A user's ratings of two dataset ids of one movie: the latest wins, written at the end.
        self.held: dict[tuple[str, int], tuple[float, Stamp]] = {}
        self.valid_users: dict[str, str] = {}  # raw text -> checked id
        self.valid_ratings: dict[str, float] = {}  # raw text -> value
        self.rows = layout.read_ratings(files, problems, self.counter)

    def run(self) -> None:
        """Read every line, writing each full batch, then what is left and the held ratings."""
        problems, writer, filename = self.problems, self.writer, self.layout.ratings
        batch, new_users = self.batch, self.new_users
        movie_of_item, merged, user_ids = (
            writer.movie_of_item,
            writer.merged_movies,
            writer.user_ids,
        )
        valid_users, valid_ratings = self.valid_users, self.valid_ratings
        batch_size = writer.batch_size
        lines_in_batch = lines = 0
        for number, user_text, item_text, rating_text, stamp_text in self.rows:
            lines += 1
            user = valid_users.get(user_text)
            movie_id = movie_of_item.get(item_text)
            rating = valid_ratings.get(rating_text)
            if stamp_text is None:
                rated_at: Any = None
            elif stamp_text.isdigit() and stamp_text.isascii() and len(stamp_text) <= 11:
                rated_at = int(stamp_text)  # At most 11 digits: always a valid time.
            else:
                rated_at = _UNREAD
            if user is None or movie_id is None or rating is None or rated_at is _UNREAD:
                checked = self._checked(
                    number, user_text, item_text, rating_text, stamp_text, rated_at
                )
                if checked is None:
                    continue
                user, movie_id, rating, rated_at = checked
            if merged and movie_id in merged:
                self._hold(user, movie_id, rating, rated_at)
                continue
            if not problems.items:  # Once refused, only the checks go on.
                if (user, movie_id) in batch:
                    problems.add(
                        f"{filename} line {number}",
                        f"user {user} rated movie {item_text.strip()} on an earlier line too",
                    )
                    continue
                batch[(user, movie_id)] = (rating, rated_at)
                if user not in user_ids and user not in new_users:
                    new_users[user] = f"{filename} line {number}"
            lines_in_batch += 1
            if lines_in_batch >= batch_size:
                self._flush()
                lines_in_batch = 0
        self._flush()
        writer.counts["rating_lines"] += lines
        writer.seen_users.update(valid_users.values())
        self._write_held()

    def _checked(
        self,
        number: int,
        user_text: str,
        item_text: str,
        rating_text: str,
        stamp_text: str | None,
        rated_at: Any,
    ) -> tuple[str, int, float, Stamp] | None:
        """Return the line's (user, movie id, rating, time) after the full checks, or None.

        ``rated_at`` is the fast path's reading of the timestamp, checked here if ``_UNREAD``.
        """
        problems, layout = self.problems, self.layout
        movie_of_item = self.writer.movie_of_item
        location = f"{layout.ratings} line {number}"
        if layout.whole_ids and not _whole_ids(location, user_text, item_text, problems):
            return None
        user = _check_id(location, "user id", user_text, problems)
        item = _check_id(location, "movie id", item_text, problems)
        rating = _check_rating(location, rating_text, self.scale, problems)
        if rated_at is _UNREAD:
            rated_at = _check_timestamp(location, stamp_text, problems)
        if item is not None and item not in movie_of_item:
            problems.add(location, f"movie id {item} is not in {layout.movies}")
            return None
        if user is not None:
            self.valid_users[user_text] = user
        if rating is not None:
            self.valid_ratings[rating_text] = rating
        if user is None or item is None or rating is None:
            return None
        return user, movie_of_item[item], rating, rated_at

    def _hold(self, user: str, movie_id: int, rating: float, rated_at: Stamp) -> None:
        """Keep the later of a user's ratings of one movie under two dataset ids."""
        key = (user, movie_id)
        if key in self.held:
            self.writer.counts["ratings_merged"] += 1
            if _later_first(self.held[key][1]) > _later_first(rated_at):
                return
        self.held[key] = (rating, rated_at)

    def _flush(self) -> None:
        problems, writer = self.problems, self.writer
        if self.batch and not problems.items and writer.create_users(self.new_users, problems):
            writer.write_batch(self.batch)
        self.batch.clear()
        self.new_users.clear()
        if self.progress is not None:
            self.progress(self.counter[0], self.total)

    def _write_held(self) -> None:
        writer, user_ids = self.writer, self.writer.user_ids
        if not self.held or self.problems.items:
            return
        first_lines = {user: self.layout.ratings for user, _ in self.held if user not in user_ids}
        if writer.create_users(first_lines, self.problems):
            writer.write_ratings(
                {(user_ids[user], movie): value for (user, movie), value in self.held.items()}
            )


def import_movielens(
    session: Session,
    source: str | Path | BinaryIO,
    *,
    scale: RatingScale,
    layout: str = "auto",
    filename: str | None = None,
    admin_id: int | None = None,
    progress: Progress | None = None,
    batch_size: int = 5000,
    max_movies: int = DEFAULT_MAX_CATALOGUE_MOVIES,
) -> MovieLensReport:
    """Import a MovieLens dataset (folder or zip) as a whole, or refuse it with its problems.

    Ratings must lie on ``scale``. Commits ``session`` like ``import_catalogue``: the
    run first, then everything in one transaction; a refusal writes nothing but the failed run.
    A dataset whose new movies would take the catalogue over ``max_movies`` is refused before
    any movie is written.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if isinstance(source, str):
        source = Path(source)
    name = filename or (source.name if isinstance(source, Path) else "upload.zip")
    with tracked_run(session, KIND, name, admin_id) as run, ExitStack() as stack:
        problems = Problems()
        try:
            files = open_dataset(source, name, stack)
            chosen = choose_layout(files, layout)
        except DatasetRefused as error:
            problem = {"location": error.location, "message": error.message}
            raise refusal(name, [problem], False) from None
        dataset = chosen.dataset_name(files)
        # Staged on SQLite, streamed on PostgreSQL (writer's docstring).
        writer = Writer(session, dataset, batch_size, max_movies=max_movies, run_id=run.id)
        stack.callback(writer.close)  # However the import ends: its spooled ratings go.
        try:
            movies = _read_movies(files, chosen, problems)
            if not problems.items:
                writer.write_movies(movies)
                writer.notes[:0] = _movie_notes(movies)
                _RatingsImport(files, chosen, writer, scale, problems, progress).run()
            if not problems.items and writer.counts["rating_lines"] == 0:
                problems.add(chosen.ratings, "no ratings in the file")
        except TooManyProblems:
            pass
        except RepeatedRating:
            problems.items.append({"location": chosen.ratings, "message": REPEATED_RATING})
        except CatalogueFull as full:
            problems.items.append({"location": chosen.movies, "message": str(full)})
        if problems.items:
            raise refusal(name, problems.items, problems.truncated)
        writer.bump_versions()
        try:
            writer.apply()
        except RepeatedRating:
            problem = {"location": chosen.ratings, "message": REPEATED_RATING}
            raise refusal(name, [problem]) from None
        report = MovieLensReport(run.id, KIND, name, ImportStatus.SUCCEEDED, chosen.name, dataset)
        report.counts = writer.counts
        report.counts["titles_repaired"] = sum(1 for m in movies if m.mis_decoded_title)
        report.matched_by = {rule: writer.counts[f"movies_matched_{rule}"] for rule in RULES}
        report.possible_duplicates = writer.possible_duplicates
        finish_run(session, run, writer.counts, writer.notes)
        writer.end_write()
        report.write_seconds = writer.write_seconds
        report.write_transactions = len(writer.holds)
    return report
