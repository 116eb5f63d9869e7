"""Write one dataset's movies, users and ratings, all or nothing.

On SQLite the writes are staged: while the file is read and checked, the writer only reads
(what is linked, matched, rated already), keeps what it would write, with negative placeholder
ids for the movies, genres and users it creates (the new users' ratings, most of a dataset, in
a temporary file: ``spool``), and ``apply`` writes it at the end, having given those rows
explicit ids and resolved every staged row before it takes the lock, so that the locked part
only inserts: in one short transaction up to ``ONE_TRANSACTION_ROWS`` ratings, in short steps
beyond (recorded on the run until the last, and undone by ``importers.pending`` if the import
does not finish). SQLite has one write lock for the whole file: an import that wrote as it read
held it for the whole import, and every rating, sign-up and token request waited its busy
timeout and got a 503. PostgreSQL locks rows, not the file, and the rows an import writes are
its own (new movies, its dataset's users, their ratings): there the writes go out batch by
batch as they are read, inside one transaction, so memory stays at one batch whatever the size.

Movies are linked from an earlier import, matched to the movie rows (``importers.matching``:
titles folded, alternative titles, series, year within one, fuzzy) or inserted, a possible
duplicate listed, never guessed; users are created on first sight; ratings
come in batches keyed by (user, movie). Everything goes through Core statements or the
driver's cursor (executemany, COPY on PostgreSQL), never the ORM's unit of work, which costs
more per row than the database does.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from recommender.importers.genres import canonical_genres
from recommender.importers.limits import DEFAULT_MAX_CATALOGUE_MOVIES, catalogue_limit_problem
from recommender.importers.matching import RULES, Entry, Match, TitleForms, TitleIndex, title_forms
from recommender.importers.movielens.layouts import DatasetMovie
from recommender.importers.movielens.spool import RatingSpool, decoded
from recommender.importers.pending import record_pending
from recommender.importers.problems import Problems
from recommender.models import (
    Genre,
    Movie,
    MovieExternalId,
    Rating,
    User,
    movie_genres,
    username_key,
    utcnow,
)

log = logging.getLogger(__name__)


class CatalogueFull(Exception):
    """The dataset's new movies would take the catalogue over its limit (the message says)."""


class RepeatedRating(Exception):
    """Two lines of one (user, movie), further apart than a batch, met at the primary key."""


# A film of the dataset, as far as merging goes: its folded title and its year. Two item ids
# of one identity are one film (ML-100K lists 18 films twice); other matches may be two films.
Identity = tuple[str, int | None]
# How a dataset movie got its row, beside the matcher's RULES.
KNOWN, NEW = "known", "new"


def _identity(movie: DatasetMovie, forms: TitleForms) -> Identity:
    return (forms.exact, movie.year)


def _utc(value: dt.datetime) -> dt.datetime:
    # SQLite hands timestamps back without their zone; every timestamp here is UTC.
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


# A rating's time as the loop keeps it: whole seconds since 1970 (the usual line, read without
# building a datetime), a datetime (fractional or unusual text), or None (the layout has none).
Stamp = int | dt.datetime | None
# SQLAlchemy's SQLite storage text of a DateTime with no microseconds, made by SQLite from
# whole seconds: byte-for-byte what the bind processor writes, at a fraction of the cost of a
# datetime per row in Python (and cheaper than strftime()).
SQLITE_WHOLE_SECONDS = "datetime(?, 'unixepoch') || '.000000'"
# Fewer rows than this go through executemany on PostgreSQL: COPY's setup is not worth it.
COPY_MIN_ROWS = 100
RATING_COLUMNS = "user_id, movie_id, rating, rated_at"
# A staged import of more ratings than this writes them in steps, each its own transaction
# (``Writer.apply``): ML-100K's 100,000 ratings in one took 0.4-1 s on these machines, too
# close to the 1 s a rater may wait; 50,000 take about half that.
ONE_TRANSACTION_ROWS = 50_000
# A step holds the write lock about this long, then leaves it free this long: a rater's write
# waits at most about one step, and SQLite's busy handler, which sleeps up to 100 ms between
# tries, finds the lock free before the next step takes it. Shorter steps cost throughput, as
# each commit writes every page it touched (bench/import_lock.py, synthetic 1M: 37.5 s in
# 0.1 s steps, 19.4 s in 0.3 s steps; the busiest rater's wait 0.53 s either way).
STEP_SECONDS = 0.25
STEP_PAUSE_SECONDS = 0.1
# Rows of the first step of each table (its pace unknown), and the bounds of the later ones.
STEP_FIRST_ROWS, STEP_MIN_ROWS, STEP_MAX_ROWS = 1_000, 500, 200_000
# The tables of the rows an import creates, in the order they are written (foreign keys).
TABLE_OF_KIND = {"genre": Genre, "movie": Movie, "user": User}


def _all_at_once(rows: list[Any], insert: Callable[[list[Any]], object]) -> None:
    """Insert ``rows`` with one call (``Writer._write_rows`` in one transaction)."""
    insert(rows)


def as_datetime(stamp: int | dt.datetime) -> dt.datetime:
    return dt.datetime.fromtimestamp(stamp, dt.UTC) if type(stamp) is int else stamp


# What a column of a staged row holds: a plain value, or the id of a movie, genre or user
# (a negative placeholder until ``apply`` inserts the row).
Ref = str | None


@dataclass
class _Staged:
    """The writes of a staged import, in the order ``apply`` makes them."""

    genres: dict[int, str] = field(default_factory=dict)  # placeholder -> name
    movies: dict[int, dict[str, Any]] = field(default_factory=dict)  # placeholder -> row
    users: dict[int, dict[str, Any]] = field(default_factory=dict)  # placeholder -> row
    # executemany inserts: ("table (columns)", rows, what each column holds).
    inserts: list[tuple[str, list[tuple[Any, ...]], tuple[Ref, ...]]] = field(default_factory=list)
    ratings: list[tuple[int, int, float, Stamp]] = field(default_factory=list)
    # Rows of fresh users (never rated before), most of a dataset, kept on disk: a repeat is a
    # RepeatedRating, as when streamed.
    fresh_ratings: RatingSpool = field(default_factory=RatingSpool)
    updates: list[dict[str, Any]] = field(default_factory=list)
    bumped_users: list[int] = field(default_factory=list)


@dataclass
class _Prepared:
    """A staged import's writes resolved to the ids its new rows get (``Writer._prepare``)."""

    largest: tuple[int, int, int]  # the largest genre, movie and user ids they come after
    real: dict[str, dict[int, int]]  # "genre" / "movie" / "user" -> placeholder -> id
    rows: dict[str, list[dict[str, Any]]]  # the new genres, movies and users, with their ids
    inserts: list[tuple[str, list[tuple[Any, ...]], tuple[Ref, ...]]]
    # The new ratings of known users, in key order: those of whole-second stamps apart
    # (``insert_rows``); the fresh users' are read from their spool as they are written.
    whole_ratings: list[tuple[int, int, float, Stamp]]
    other_ratings: list[tuple[int, int, float, Stamp]]
    bumped: list[int]
    # Placeholder id -> id, indexed by minus the placeholder (0 unused): resolves spooled rows.
    real_of_placeholder: np.ndarray


class Writer:
    """Write one dataset's movies, users and ratings; counts go into ``counts``.

    Everything goes through Core statements or the DBAPI cursor of the session's connection,
    inside the session's one transaction: the ORM's unit of work costs more per row than the
    database does.
    """

    def __init__(
        self,
        session: Session,
        dataset: str,
        batch_size: int,
        *,
        staged: bool | None = None,
        max_movies: int = DEFAULT_MAX_CATALOGUE_MOVIES,
        run_id: int | None = None,
    ) -> None:
        self.session = session
        self.run_id = run_id
        self.max_movies = max_movies
        self.dataset = dataset
        self.batch_size = batch_size
        self.now = utcnow()
        self.counts = dict.fromkeys(
            (
                "movies_matched_catalogue",
                *(f"movies_matched_{rule}" for rule in RULES),
                "movies_possible_duplicates",
                "movies_genres_filled",
                "movies_inserted",
                "movies_known",
                "movies_merged",
                "users_inserted",
                "users_existing",
                "ratings_inserted",
                "ratings_updated",
                "ratings_unchanged",
                "ratings_merged",
                "rating_lines",
            ),
            0,
        )
        self.notes: list[dict[str, Any]] = []
        # Films inserted beside rows they may be: every one, for the report.
        self.possible_duplicates: list[dict[str, Any]] = []
        self.placeholder_of: dict[str, int] = {}
        self.movie_of_item: dict[str, int] = {}
        self.merged_movies: set[int] = set()
        users = sa.select(User.external_id, User.id).where(User.source == dataset)
        self.user_ids: dict[str, int] = {
            external: user_id for external, user_id in session.execute(users)
        }
        # Users this import created: their ratings cannot be in the database from before.
        self.new_user_ids: set[int] = set()
        self.seen_users: set[str] = set()
        self.changed_users: set[int] = set()
        dialect = session.get_bind().dialect
        self.dialect_name = dialect.name
        self.placeholder = "?" if dialect.paramstyle == "qmark" else "%s"
        rated_at = Rating.__table__.c.rated_at.type
        self._bind_stamp = rated_at.dialect_impl(dialect).bind_processor(dialect)
        self._read_stamp = rated_at.dialect_impl(dialect).result_processor(dialect, None)
        self._integrity_errors: tuple[type[Exception], ...] = (sa.exc.IntegrityError,)
        if dialect.loaded_dbapi is not None:  # COPY raises the driver's error, not SQLAlchemy's
            self._integrity_errors += (dialect.loaded_dbapi.IntegrityError,)
        # SQLite: read now, write at the end in one short transaction (the module's docstring).
        self.staged = self.dialect_name == "sqlite" if staged is None else staged
        self._staged = _Staged()
        self._placeholders = 0
        self._in_steps = False  # ``apply`` writes in steps (past ONE_TRANSACTION_ROWS)
        # How long each write transaction of a staged import held the database, in seconds.
        self.holds: list[float] = []
        self._write_started: float | None = None
        # The possible duplicates of a staged import are noted once their rows have ids.
        self._pending_notes: tuple[list[DatasetMovie], dict[str, list[Entry]]] | None = None

    def _placeholder(self) -> int:
        """Return a new negative id for a row ``apply`` will insert."""
        self._placeholders += 1
        return -self._placeholders

    def db_stamp(self, stamp: Stamp) -> Any:
        """Return ``stamp`` (None: now) as the DBAPI parameter of ``ratings.rated_at``."""
        value = self.now if stamp is None else as_datetime(stamp)
        return value if self._bind_stamp is None else self._bind_stamp(value)

    # --- movies -------------------------------------------------------------------------------

    def write_movies(self, movies: list[DatasetMovie]) -> None:
        """Map every dataset movie to a movie row: linked before, matched, merged or new.

        Movies linked by an earlier import keep their row. The others are matched to the
        movie rows by ``importers.matching`` (linked rows and catalogue rows alike); a row
        goes to one film of the dataset (the strongest match; the same title and year twice
        is one film, merged), and a film that loses it, is ambiguous or only may be a row is
        inserted and listed as a possible duplicate, never guessed. New films are matched
        among themselves too (without the fuzzy rule, which is for the catalogue).
        """
        session = self.session
        links = sa.select(MovieExternalId.external_id, MovieExternalId.movie_id).where(
            MovieExternalId.source == self.dataset
        )
        linked = {external: movie_id for external, movie_id in session.execute(links)}
        forms = {m.external_id: title_forms(m.title) for m in movies if m.external_id not in linked}
        index = TitleIndex()
        if forms:  # A re-import links every movie: no index to build.
            index = TitleIndex.of(session.execute(sa.select(Movie.id, Movie.title, Movie.year)))
        # Which film of the dataset holds each row: its identity, the rule that matched.
        holders: dict[int, tuple[Identity, str]] = {}
        for movie in movies if forms else ():
            if (movie_id := linked.get(movie.external_id)) is not None:
                holders.setdefault(movie_id, (_identity(movie, title_forms(movie.title)), KNOWN))
        matched: dict[str, tuple[int, str]] = {}
        unplaced: dict[str, tuple[Entry, ...]] = {}
        for movie, match in self._strongest_first(movies, forms, index):
            if match.movie_id is None:
                unplaced[movie.external_id] = match.possible
                continue
            identity = _identity(movie, forms[movie.external_id])
            holder, _ = holders.setdefault(match.movie_id, (identity, match.rule or "exact"))
            entry = index.entries[match.movie_id]
            if holder == identity or (entry.title, entry.year) == (movie.title, movie.year):
                matched[movie.external_id] = (match.movie_id, match.rule or "exact")
            else:  # The row is another film's of this dataset: this one may duplicate it.
                unplaced[movie.external_id] = (entry,)
        new_rows, possible = self._place_new(movies, forms, unplaced)
        full = catalogue_limit_problem(self.session, len(new_rows), len(movies), self.max_movies)
        if full is not None:
            raise CatalogueFull(full)
        id_of_new = self._insert_movies(new_rows)
        self._link(movies, linked, matched, id_of_new)
        if self.staged:
            self._pending_notes = (movies, possible)
        else:
            self._note_possible_duplicates(movies, possible, id_of_new)

    def _strongest_first(
        self, movies: list[DatasetMovie], forms: dict[str, TitleForms], index: TitleIndex
    ) -> list[tuple[DatasetMovie, Match]]:
        """Match every unlinked movie; the strongest rules first (a row goes to the first)."""
        answers = [
            (movie, index.match(movie.title, movie.year, forms=forms[movie.external_id]))
            for movie in movies
            if movie.external_id in forms
        ]
        strength = {rule: rank for rank, rule in enumerate(RULES)}
        return sorted(answers, key=lambda answer: strength.get(answer[1].rule or "", len(RULES)))

    def _place_new(
        self,
        movies: list[DatasetMovie],
        forms: dict[str, TitleForms],
        unplaced: dict[str, tuple[Entry, ...]],
    ) -> tuple[dict[int, DatasetMovie], dict[str, list[Entry]]]:
        """Return the new rows (placeholder id -> first film) and each film's possible twins.

        Films of one title and year are one row (merged); a film another new one may be
        (alternative title, series) gets its own row, listed as a possible duplicate of it.
        """
        new_index = TitleIndex()
        new_rows: dict[int, DatasetMovie] = {}
        possible: dict[str, list[Entry]] = {}
        for movie in movies:
            if movie.external_id not in unplaced:
                continue
            movie_forms = forms[movie.external_id]
            found = new_index.match(movie.title, movie.year, forms=movie_forms, fuzzy=False)
            if found.movie_id is not None:
                first = new_rows[found.movie_id]
                if _identity(first, forms[first.external_id]) == _identity(movie, movie_forms):
                    self._note_merge(movie, first)
                    self.placeholder_of[movie.external_id] = found.movie_id
                    continue
            twins = [*unplaced[movie.external_id], *found.possible]
            if found.movie_id is not None:
                twins.append(new_index.entries[found.movie_id])
            placeholder = self._placeholder()  # Real ids come with the insert.
            new_index.add(placeholder, movie.title, movie.year, movie_forms)
            new_rows[placeholder] = movie
            self.placeholder_of[movie.external_id] = placeholder
            self.counts["movies_inserted"] += 1
            if twins:
                possible[movie.external_id] = twins
        return new_rows, possible

    def _link(
        self,
        movies: list[DatasetMovie],
        linked: dict[str, int],
        matched: dict[str, tuple[int, str]],
        id_of_new: dict[int, int],
    ) -> None:
        """Fill ``movie_of_item``, count the matches and merges, and link the new item ids."""
        first_of: dict[int, DatasetMovie] = {}
        new_links: list[tuple[str, int]] = []
        for movie in movies:
            external = movie.external_id
            if external in linked:
                movie_id, how = linked[external], KNOWN
            elif external in matched:
                movie_id, how = matched[external]
                new_links.append((external, movie_id))
            else:
                movie_id, how = id_of_new[self.placeholder_of[external]], NEW
                new_links.append((external, movie_id))
            self.movie_of_item[external] = movie_id
            if movie_id in first_of:
                if how != NEW:  # New rows' merges were noted when they were placed.
                    self._note_merge(movie, first_of[movie_id])
                self.merged_movies.add(movie_id)
                continue
            first_of[movie_id] = movie
            if how == KNOWN:
                self.counts["movies_known"] += 1
            elif how != NEW:
                self.counts["movies_matched_catalogue"] += 1
                self.counts[f"movies_matched_{how}"] += 1
        self._executemany(
            "movie_external_ids (source, external_id, movie_id)",
            [(self.dataset, external_id, movie_id) for external_id, movie_id in new_links],
            (None, None, "movie"),
        )
        matched_rows = {movie_id for movie_id, _ in matched.values()}
        self._fill_empty_genres({m: first_of[m] for m in matched_rows if m in first_of})

    def _fill_empty_genres(self, matched: dict[int, DatasetMovie]) -> None:
        """Give a matched catalogue row without genres the dataset's (a row's own genres are
        never changed): "Monty Python and the Holy Grail" came without any."""
        if not matched:
            return
        with_genres = set()
        for chunk in _chunks(sorted(matched), 500):
            with_genres.update(
                self.session.scalars(
                    sa.select(movie_genres.c.movie_id).where(movie_genres.c.movie_id.in_(chunk))
                )
            )
        genres_of = {
            movie_id: canonical_genres(movie.genres)
            for movie_id, movie in matched.items()
            if movie_id not in with_genres
        }
        genre_ids = self._genre_ids({name for names in genres_of.values() for name in names})
        links = [
            (movie_id, genre_id)
            for movie_id, names in genres_of.items()
            for genre_id in dict.fromkeys(genre_ids[name.casefold()] for name in names)
        ]
        self.counts["movies_genres_filled"] += len({movie_id for movie_id, _ in links})
        self._executemany(f"{movie_genres.name} (movie_id, genre_id)", links, ("movie", "genre"))

    def _note_possible_duplicates(
        self,
        movies: list[DatasetMovie],
        possible: dict[str, list[Entry]],
        id_of_new: dict[int, int],
    ) -> None:
        """Record each film inserted beside rows it may be, for the report and the run."""
        for movie in movies:
            twins = possible.get(movie.external_id)
            if not twins:
                continue
            movie_id = self.movie_of_item[movie.external_id]
            rows = {}
            for twin in twins:
                twin_id = id_of_new.get(twin.movie_id, twin.movie_id)
                if twin_id != movie_id:
                    rows[twin_id] = {"id": twin_id, "title": twin.title, "year": twin.year}
            if not rows:
                continue
            of = "; ".join(f"{r['id']} {r['title']} ({r['year']})" for r in rows.values())
            duplicate = {
                "kind": "possible_duplicate",
                "location": movie.location,
                "message": (
                    f"movie {movie.external_id} ({movie.title!r}, {movie.year}) inserted as "
                    f"{movie_id}: possible duplicate of {of}"
                ),
                "movie_id": movie_id,
                "duplicates": list(rows.values()),
            }
            self.possible_duplicates.append(duplicate)
            self.notes.append(duplicate)
        self.counts["movies_possible_duplicates"] = len(self.possible_duplicates)

    def _insert_movies(self, new_rows: dict[int, DatasetMovie]) -> dict[int, int]:
        """Insert one movie row per placeholder with its genres; return placeholder -> id."""
        if not new_rows:
            return {}
        rows = [{"title": m.title, "year": m.year} for m in new_rows.values()]
        if self.staged:
            self._staged.movies.update(zip(new_rows, rows, strict=True))
            ids = list(new_rows)
        else:
            ids = self._insert_returning(Movie.__table__, rows)
        id_of_new = dict(zip(new_rows, ids, strict=True))
        # The dataset's genre names in the one vocabulary ("Children's" -> "Children").
        genres_of = [canonical_genres(m.genres) for m in new_rows.values()]
        genre_ids = self._genre_ids({name for names in genres_of for name in names})
        links = [
            (movie_id, genre_id)
            for movie_id, names in zip(ids, genres_of, strict=True)
            # Two spellings of one genre ("Drama", "drama") are one link.
            for genre_id in dict.fromkeys(genre_ids[name.casefold()] for name in names)
        ]
        self._executemany(f"{movie_genres.name} (movie_id, genre_id)", links, ("movie", "genre"))
        return id_of_new

    def _insert_returning(self, table: sa.Table, rows: list[dict[str, Any]]) -> list[int]:
        """Insert ``rows`` into ``table``; return their new ids, in order."""
        statement = sa.insert(table).returning(table.c.id, sort_by_parameter_order=True)
        return list(self.session.connection().execute(statement, rows).scalars().all())

    def _executemany(self, into: str, rows: list[tuple[Any, ...]], refs: tuple[Ref, ...]) -> None:
        """Insert ``rows`` into ``into`` ("table (columns)") with the driver's executemany;
        ``refs`` says which columns hold ids (staged: placeholders until ``apply``)."""
        if not rows:
            return
        if self.staged:
            self._staged.inserts.append((into, rows, refs))
            return
        values = ", ".join([self.placeholder] * len(rows[0]))
        self.session.connection().exec_driver_sql(f"INSERT INTO {into} VALUES ({values})", rows)

    def _genre_ids(self, names: set[str]) -> dict[str, int]:
        """Return casefolded name -> genre id for ``names``, creating the missing genres."""
        connection = self.session.connection()
        genres = Genre.__table__
        ids = {
            name.casefold(): genre_id
            for genre_id, name in connection.execute(sa.select(genres.c.id, genres.c.name))
        }
        if self.staged:  # Genres staged by an earlier call are not in the table yet.
            ids |= {
                name.casefold(): placeholder for placeholder, name in self._staged.genres.items()
            }
        missing = list(
            {name.casefold(): name for name in sorted(names) if name.casefold() not in ids}.values()
        )
        if missing and self.staged:
            for name in missing:
                ids[name.casefold()] = placeholder = self._placeholder()
                self._staged.genres[placeholder] = name
        elif missing:
            created = self._insert_returning(genres, [{"name": name} for name in missing])
            for name, genre_id in zip(missing, created, strict=True):
                ids[name.casefold()] = genre_id
        return ids

    def _note_merge(self, movie: DatasetMovie, first: DatasetMovie) -> None:
        self.counts["movies_merged"] += 1
        if len(self.notes) < 100:
            message = (
                f"movie {movie.external_id} ({movie.title!r}, {movie.year}) is the same movie "
                f"as {first.external_id} ({first.location}): their ratings rate one movie"
            )
            self.notes.append({"kind": "merged", "location": movie.location, "message": message})

    # --- users --------------------------------------------------------------------------------

    def create_users(self, first_lines: dict[str, str], problems: Problems) -> bool:
        """Create the users ``first_lines`` names (external id -> where first seen).

        Return False after a problem: a username already taken by another account.
        """
        if not first_lines:
            return True
        new = sorted(first_lines)
        names = {f"{self.dataset}-{external}": external for external in new}
        # A local "ML-100K-1" takes the name "ml-100k-1" too: names are compared by their key.
        name_of_key = {username_key(name): name for name in names}
        taken = self.session.execute(
            sa.select(User.username, User.username_key).where(User.username_key.in_(name_of_key))
        )
        ok = True
        for holder, key in taken:
            username = name_of_key[key]
            external = names[username]
            problems.add(
                first_lines[external],
                f"user {external} would be {username!r}, a name already taken"
                + ("" if holder == username else f" (by {holder!r})"),
            )
            ok = False
        if not ok:
            return False
        rows = [
            {
                "username": username,
                "username_key": username_key(username),
                "password_hash": None,  # No password: dataset users cannot sign in.
                "source": self.dataset,
                "external_id": external,
            }
            for username, external in names.items()
        ]
        if self.staged:
            ids = [self._placeholder() for _ in rows]
            self._staged.users.update(zip(ids, rows, strict=True))
        else:
            ids = self._insert_returning(User.__table__, rows)
        for external, user_id in zip(names.values(), ids, strict=True):
            self.user_ids[external] = user_id
            self.new_user_ids.add(user_id)
        self.counts["users_inserted"] += len(new)
        return True

    # --- ratings ------------------------------------------------------------------------------

    def write_batch(self, batch: dict[tuple[str, int], tuple[float, Stamp]]) -> None:
        """Write one batch of (external user id, movie id) -> (rating, time).

        Ratings of users this import created are inserted blind, with no lookup; the rest are
        looked up and inserted, updated or left. A pair repeated from an earlier batch of
        the same file meets the primary key in the blind insert: RepeatedRating.
        """
        user_ids, new_user_ids = self.user_ids, self.new_user_ids
        fresh: list[tuple[int, int, float, Stamp]] = []
        known: dict[tuple[int, int], tuple[float, Stamp]] = {}
        for (user, movie_id), (rating, rated_at) in batch.items():
            user_id = user_ids[user]
            if user_id in new_user_ids:
                fresh.append((user_id, movie_id, rating, rated_at))
            else:
                known[(user_id, movie_id)] = (rating, rated_at)
        if fresh:
            if self.staged:
                self._staged.fresh_ratings.append(fresh)
            else:
                self._insert_fresh(fresh)
            self.counts["ratings_inserted"] += len(fresh)
        if known:
            self.write_ratings(known)

    def _insert_fresh(self, rows: list[tuple[int, int, float, Stamp]]) -> None:
        """Insert ratings no earlier row holds, blind: a repeat is RepeatedRating."""
        try:
            self.insert_rows(rows)
        except self._integrity_errors as error:
            raise RepeatedRating from error

    def insert_rows(self, rows: list[tuple[int, int, float, Stamp]]) -> None:
        """Insert (user_id, movie_id, rating, time) rows with no per-row work in SQLAlchemy.

        Rows go in key order, so the primary key's B-tree grows at its end instead of all
        over. PostgreSQL gets them by COPY; SQLite by ``_insert_sqlite``.
        """
        rows.sort()
        connection = self.session.connection()
        if self.dialect_name == "sqlite":
            whole = [row for row in rows if type(row[3]) is int]
            other = (
                [row for row in rows if type(row[3]) is not int] if len(whole) < len(rows) else []
            )
            self._insert_sqlite(whole, other)
            return
        if self.dialect_name == "postgresql" and len(rows) >= COPY_MIN_ROWS:
            cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            with cursor, cursor.copy(f"COPY ratings ({RATING_COLUMNS}) FROM STDIN") as copy:
                for user_id, movie_id, rating, stamp in rows:
                    copy.write_row((user_id, movie_id, rating, self.db_stamp(stamp)))
            return
        values = ", ".join([self.placeholder] * 4)
        db_stamp = self.db_stamp
        connection.exec_driver_sql(
            f"INSERT INTO ratings ({RATING_COLUMNS}) VALUES ({values})",
            [(u, m, r, db_stamp(t)) for u, m, r, t in rows],
        )

    def _insert_sqlite(
        self,
        whole: list[tuple[int, int, float, Stamp]],
        other: list[tuple[int, int, float, Stamp]],
    ) -> None:
        """Insert sorted rating rows on SQLite: ``whole`` of whole-second stamps, ``other``.

        The driver's own executemany of the plain tuples, on the DBAPI cursor of the session's
        connection (its transaction): SQLAlchemy's exec_driver_sql walks every row before
        handing them on. SQLite turns whole seconds into SQLAlchemy's DateTime text itself
        (``SQLITE_WHOLE_SECONDS``), cheaper than Python.
        """
        dbapi = self.session.connection().connection.dbapi_connection
        cursor = dbapi.cursor()  # type: ignore[union-attr]
        try:
            if whole:
                cursor.executemany(
                    f"INSERT INTO ratings ({RATING_COLUMNS}) VALUES (?, ?, ?, "
                    f"{SQLITE_WHOLE_SECONDS})",
                    whole,
                )
            if other:
                db_stamp = self.db_stamp
                cursor.executemany(
                    f"INSERT INTO ratings ({RATING_COLUMNS}) VALUES (?, ?, ?, ?)",
                    [(u, m, r, db_stamp(t)) for u, m, r, t in other],
                )
        finally:
            cursor.close()

    def write_ratings(self, batch: dict[tuple[int, int], tuple[float, Stamp]]) -> None:
        """Insert, update or leave each (user id, movie id) -> (rating, time) of ``batch``."""
        existing = self._existing(sorted(batch))
        inserts, updates = [], []
        for key, (rating, stamp) in batch.items():
            old = existing.get(key)
            if old is None:
                inserts.append((key[0], key[1], rating, stamp))
                self.changed_users.add(key[0])
                continue
            rated_at = None if stamp is None else as_datetime(stamp)
            if old[0] != rating or (rated_at is not None and old[1] != rated_at):
                updates.append({"u": key[0], "m": key[1], "r": rating, "t": rated_at or old[1]})
                self.changed_users.add(key[0])
            else:
                self.counts["ratings_unchanged"] += 1
        if self.staged:
            self._staged.ratings.extend(inserts)
            self._staged.updates.extend(updates)
        else:
            if inserts:
                self.insert_rows(inserts)
            if updates:
                self._update_ratings(updates)
        self.counts["ratings_inserted"] += len(inserts)
        self.counts["ratings_updated"] += len(updates)

    def _update_ratings(self, updates: list[dict[str, Any]]) -> None:
        c = Rating.__table__.c
        statement = (
            sa.update(Rating.__table__)
            .where(c.user_id == sa.bindparam("u"), c.movie_id == sa.bindparam("m"))
            .values(rating=sa.bindparam("r"), rated_at=sa.bindparam("t"))
        )
        self.session.execute(statement, updates)

    def _existing(
        self, keys: list[tuple[int, int]]
    ) -> dict[tuple[int, int], tuple[float, dt.datetime]]:
        """Return (user id, movie id) -> (rating, rated_at) of the ``keys`` already stored.

        One primary-key probe per key, joined from the keys (an array on PostgreSQL, a VALUES
        list elsewhere): ``(user_id, movie_id) IN (...)`` made SQLite scan the whole table
        per query, which made a re-import five times slower than the import itself.
        """
        connection = self.session.connection()
        columns = "r.user_id, r.movie_id, r.rating, r.rated_at"
        on = "r.user_id = k.u AND r.movie_id = k.m"
        if self.dialect_name == "postgresql":
            query = (
                f"SELECT {columns} FROM unnest(%s::integer[], %s::integer[]) AS k(u, m) "
                f"JOIN ratings r ON {on}"
            )
            users, movies = [key[0] for key in keys], [key[1] for key in keys]
            chunks = [(users, movies)] if keys else []
        else:
            # 450 pairs: 900 parameters, under SQLite's oldest limit of 999.
            chunks = [tuple(x for key in chunk for x in key) for chunk in _chunks(keys, 450)]
        existing: dict[tuple[int, int], tuple[float, dt.datetime]] = {}
        for params in chunks:
            if self.dialect_name != "postgresql":
                pairs = ", ".join(
                    [f"({self.placeholder}, {self.placeholder})"] * (len(params) // 2)
                )
                query = f"WITH k(u, m) AS (VALUES {pairs}) SELECT {columns} FROM k "
                query += f"JOIN ratings r ON {on}"
            for user_id, movie_id, rating, rated_at in connection.exec_driver_sql(query, params):
                if self._read_stamp is not None:
                    rated_at = self._read_stamp(rated_at)
                existing[(user_id, movie_id)] = (rating, _utc(rated_at))
        return existing

    def bump_versions(self) -> None:
        """Bump ``ratings_version`` of every user whose ratings changed (caches invalidate)."""
        self._bump(sorted(self.changed_users | self.new_user_ids))
        self.counts["users_existing"] = len(self.seen_users) - self.counts["users_inserted"]

    def _bump(self, user_ids: list[int]) -> None:
        if self.staged:
            self._staged.bumped_users.extend(user_ids)
            return
        for chunk in _chunks(user_ids, 500):
            self.session.execute(
                sa.update(User)
                .where(User.id.in_(chunk))
                .values(ratings_version=User.ratings_version + 1)
            )

    # --- the final transaction of a staged import -------------------------------------------

    def apply(self) -> None:
        """Write what a staged import kept, holding SQLite's write lock only briefly.

        The transaction that read is ended first, and each write transaction takes the write
        lock at once (BEGIN IMMEDIATE): a read snapshot upgraded to a write after raters
        committed would fail. Everything that needs no lock is done before it (``_prepare``):
        the new rows get explicit ids, the next ones after each table's largest, and every
        staged row is resolved to them and sorted, so the locked part only inserts.

        Up to ``ONE_TRANSACTION_ROWS`` ratings (ML-100K) go in one transaction, the one the
        caller commits with its run. More would hold the lock for seconds (ML-1M) or many
        minutes (25M), so they go in steps (``_write_in_steps``), each its own short
        transaction with a pause between for the raters waiting, and the run records what is
        committed until the last one, to be undone if the import does not finish
        (``importers.pending``). Nothing to do when writes went out as they were read.
        """
        if not self.staged:
            return
        self.session.commit()  # Nothing written: this ends the read transaction.
        ratings = len(self._staged.fresh_ratings) + len(self._staged.ratings)
        self._in_steps = ratings > ONE_TRANSACTION_ROWS
        prepared = self._prepare(self._largest_ids())
        if self._in_steps:
            self._write_in_steps(prepared)
        else:
            prepared = self._begin(prepared)
            self._write_rows(prepared, prepared.rows)
            self._write_rest(prepared)
        self.close()
        self._staged = _Staged()

    def close(self) -> None:
        """Delete the spooled ratings' file (an import that ends before ``apply``, too)."""
        self._staged.fresh_ratings.close()

    def _lock(self) -> None:
        """Begin a write transaction that holds SQLite's write lock from its start."""
        self._write_started = time.perf_counter()
        self.session.connection().exec_driver_sql("BEGIN IMMEDIATE")

    def _begin(self, prepared: _Prepared) -> _Prepared:
        """Take the write lock for the new rows; return ``prepared``, re-resolved if needed."""
        self._lock()
        if (largest := self._largest_ids()) != prepared.largest:
            # Another writer (a sign-up, a film added) took an id meanwhile: the new rows move
            # up past it. They stay above every other row, so the rows stay in order and the
            # sort is one pass.
            prepared = self._prepare(largest)
        return prepared

    def _commit(self) -> None:
        """Commit a write transaction of ``_write_in_steps`` and note how long it held."""
        self.session.commit()
        assert self._write_started is not None
        self.holds.append(time.perf_counter() - self._write_started)
        self._write_started = None

    def _write_in_steps(self, prepared: _Prepared) -> None:
        """Write a large staged import in short transactions: the run's record of what it
        writes (``pending``) with the last new row of each table, then the other rows, links
        and ratings in chunks, and last (left to the caller to commit with its run) the rest,
        which also clears the record."""
        prepared = self._begin(prepared)
        if self.run_id is not None:
            record_pending(self.session, self.run_id, self._pending_record(prepared))
        # The row of each table's largest id goes first: ids others take between the steps (a
        # sign-up, a film added) then come after the import's ranges, never inside them.
        for kind in TABLE_OF_KIND:
            self._insert_rows(kind, prepared.rows[kind][-1:])
        self._commit()
        others = {kind: rows[:-1] for kind, rows in prepared.rows.items()}
        self._write_rows(prepared, others, self._steps_over)
        spooled = len(self._staged.fresh_ratings)
        self._steps(spooled, functools.partial(self._insert_spooled, prepared))
        self._lock()
        self._write_rest(prepared)
        if self.run_id is not None:
            record_pending(self.session, self.run_id, None)

    def _pending_record(self, prepared: _Prepared) -> dict[str, Any]:
        """Return what ``importers.pending`` needs to undo the rows written so far: the new
        rows' id ranges, and the links and genres given to rows that were there before."""
        ranges = {
            kind: [largest + 1, largest + len(prepared.rows[kind])]
            for kind, largest in zip(("genre", "movie", "user"), prepared.largest, strict=True)
            if prepared.rows[kind]
        }
        new_movies = set(prepared.real["movie"].values())
        links, genres = [], []
        for into, rows, _ in prepared.inserts:
            if into.startswith("movie_external_ids"):
                links += [external for _, external, movie in rows if movie not in new_movies]
            elif into.startswith(movie_genres.name):
                genres += [[movie, genre] for movie, genre in rows if movie not in new_movies]
        return {"dataset": self.dataset, "ids": ranges, "links": links, "genres": genres}

    def _largest_ids(self) -> tuple[int, int, int]:
        """Return the largest genre, movie and user ids (0 for an empty table)."""
        query = ", ".join(
            f"(SELECT coalesce(max(id), 0) FROM {table.name})"
            for table in (Genre.__table__, Movie.__table__, User.__table__)
        )
        genre, movie, user = self.session.connection().exec_driver_sql(f"SELECT {query}").one()
        return genre, movie, user

    def _prepare(self, largest: tuple[int, int, int]) -> _Prepared:
        """Resolve every staged row to the ids its new rows will get, after ``largest``."""
        staged = self._staged
        real: dict[str, dict[int, int]] = {}
        rows: dict[str, list[dict[str, Any]]] = {}
        for kind, after, kept in (
            ("genre", largest[0], {p: {"name": n} for p, n in staged.genres.items()}),
            ("movie", largest[1], staged.movies),
            ("user", largest[2], staged.users),
        ):
            real[kind] = {p: after + n for n, p in enumerate(kept, start=1)}
            rows[kind] = [{"id": real[kind][p], **row} for p, row in kept.items()]
        inserts = [
            (into, [_resolved(row, refs, real) for row in kept], refs)
            for into, kept, refs in staged.inserts
        ]
        movie_ids, user_ids = real["movie"], real["user"]
        real_of_placeholder = np.zeros(self._placeholders + 1, np.int64)
        for ids in (movie_ids, user_ids):
            real_of_placeholder[[-p for p in ids]] = list(ids.values())
        # One sorted list (ratings are inserted in key order, see insert_rows); a pair new to
        # the database staged twice meets the primary key: a repeat, as when streamed.
        ratings = [
            (user_ids.get(u, u), movie_ids.get(m, m), value, stamp)
            for u, m, value, stamp in staged.ratings
        ]
        if not self._in_steps:  # The fresh users' ratings too: all go in one transaction.
            records = staged.fresh_ratings.read(0, len(staged.fresh_ratings))
            ratings += itertools.chain(*decoded(_resolved_records(records, real_of_placeholder)))
        ratings.sort()
        whole = [row for row in ratings if type(row[3]) is int]
        other = (
            [row for row in ratings if type(row[3]) is not int] if len(whole) < len(ratings) else []
        )
        bumped = sorted(user_ids.get(user, user) for user in staged.bumped_users)
        return _Prepared(largest, real, rows, inserts, whole, other, bumped, real_of_placeholder)

    def _write_rows(
        self,
        prepared: _Prepared,
        new_rows: dict[str, list[dict[str, Any]]],
        write: Callable[[list[Any], Callable[[list[Any]], object]], object] = _all_at_once,
    ) -> None:
        """Insert ``new_rows`` (the new genres, movies and users with their ids, by kind), then
        the links to them, each list by ``write(rows, insert)``: at once or in steps."""
        for kind, rows in new_rows.items():
            write(rows, functools.partial(self._insert_rows, kind))
        self.staged = False  # From here on every write goes out at once, resolved.
        for into, rows, refs in prepared.inserts:
            write(rows, functools.partial(self._executemany, into, refs=refs))
        self._rows_written(prepared)

    def _insert_rows(self, kind: str, rows: list[dict[str, Any]]) -> None:
        """Insert new rows of one kind ("genre", "movie" or "user") with their ids."""
        if rows:  # Core: the columns' defaults filled, no RETURNING.
            self.session.connection().execute(sa.insert(TABLE_OF_KIND[kind].__table__), rows)

    def _rows_written(self, prepared: _Prepared) -> None:
        """Point the dataset's items and users at the ids their new rows got."""
        movie_ids = prepared.real["movie"]
        self.movie_of_item = {e: movie_ids.get(m, m) for e, m in self.movie_of_item.items()}
        for external, user_id in self.user_ids.items():
            self.user_ids[external] = prepared.real["user"].get(user_id, user_id)
        if self._pending_notes is not None:
            self._note_possible_duplicates(*self._pending_notes, movie_ids)

    def _steps(self, total: int, write: Callable[[int, int], object]) -> None:
        """Write ``total`` rows, ``write(start, size)`` a chunk, each chunk in its own
        transaction, sized to hold the lock about ``STEP_SECONDS`` at the last one's pace,
        with ``STEP_PAUSE_SECONDS`` after it for the raters waiting."""
        start, size = 0, STEP_FIRST_ROWS
        while start < total:
            self._lock()
            write(start, size)
            self._commit()
            written = min(size, total - start)
            start += written
            pace = written / max(self.holds[-1], 1e-3)
            size = int(min(max(pace * STEP_SECONDS, STEP_MIN_ROWS), STEP_MAX_ROWS))
            time.sleep(STEP_PAUSE_SECONDS)

    def _steps_over(self, rows: list[Any], insert: Callable[[list[Any]], object]) -> None:
        """Insert ``rows`` with ``insert(chunk)`` in steps (``_steps``)."""
        self._steps(len(rows), lambda start, size: insert(rows[start : start + size]))

    def _insert_spooled(self, prepared: _Prepared, start: int, size: int) -> None:
        """Insert ``size`` spooled ratings of fresh users from ``start``, resolved, sorted."""
        records = self._staged.fresh_ratings.read(start, size)
        records = _resolved_records(records, prepared.real_of_placeholder)
        records.sort(order=["user", "movie"])
        try:
            self._insert_sqlite(*decoded(records))
        except self._integrity_errors as error:
            raise RepeatedRating from error

    def _write_rest(self, prepared: _Prepared) -> None:
        """Insert and update the known users' ratings and bump the changed users' versions."""
        try:
            self._insert_sqlite(prepared.whole_ratings, prepared.other_ratings)
        except self._integrity_errors as error:
            raise RepeatedRating from error
        if self._staged.updates:
            self._update_ratings(self._staged.updates)
        self._bump(prepared.bumped)

    def end_write(self) -> None:
        """Record how long the last transaction held the database (after its commit)."""
        if self._write_started is not None:
            self.holds.append(time.perf_counter() - self._write_started)
            self._write_started = None
        if self.holds:
            log.info(
                "import wrote in %d transaction(s), the longest %.3f s",
                len(self.holds),
                self.write_seconds,
            )

    @property
    def write_seconds(self) -> float:
        """The longest a write transaction of a staged import held the database, in s."""
        return max(self.holds, default=0.0)


def _resolved_records(records: np.ndarray, real_of_placeholder: np.ndarray) -> np.ndarray:
    """Return spooled ``records`` with their placeholder user and movie ids replaced."""
    for column in ("user", "movie"):
        ids = records[column]
        placeholders = ids < 0
        ids[placeholders] = real_of_placeholder[-ids[placeholders]]
    return records


def _resolved(
    row: tuple[Any, ...], refs: tuple[Ref, ...], real: dict[str, dict[int, int]]
) -> tuple[Any, ...]:
    """Return ``row`` with its placeholder ids replaced by the inserted rows' ids."""
    return tuple(
        value if ref is None or value > 0 else real[ref][value]
        for value, ref in zip(row, refs, strict=True)
    )


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
