"""Browse, search and filter the movie catalogue."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from recommender.models import Genre, Movie, Rating
from recommender.services import title_search
from recommender.services.errors import NotFound

# Public sort keys -> column; a leading "-" sorts descending. Missing values always sort last.
SORT_COLUMNS = {
    "title": Movie.title,
    "year": Movie.year,
    "imdb_rating": Movie.imdb_rating,
    "imdb_votes": Movie.imdb_votes,
    "runtime": Movie.runtime_min,
}
# "relevance" ranks by how well the title matches the search (title order without one).
RELEVANCE = "relevance"
SORT_KEYS = (RELEVANCE, *(key for name in SORT_COLUMNS for key in (name, f"-{name}")))


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    page: int
    per_page: int
    total: int

    def to_dict(self) -> dict[str, Any]:
        """The page as the API answers it. Shallow, unlike ``dataclasses.asdict``, whose deep
        copy of every item was a fifth of a catalogue request's time."""
        return {
            "items": self.items,
            "page": self.page,
            "per_page": self.per_page,
            "total": self.total,
        }


def movie_to_dict(movie: Movie) -> dict[str, Any]:
    """The public shape of a movie, shared by every caller."""
    return {
        "id": movie.id,
        "title": movie.title,
        "year": movie.year,
        "release_date": movie.release_date.isoformat() if movie.release_date else None,
        "genres": [genre.name for genre in movie.genres],
        "runtime_min": movie.runtime_min,
        "mpaa": movie.mpaa,
        "director": movie.director,
        "distributor": movie.distributor,
        "creative_type": movie.creative_type,
        "source_material": movie.source_material,
        "budget": movie.budget,
        "us_gross": movie.us_gross,
        "worldwide_gross": movie.worldwide_gross,
        "us_dvd_sales": movie.us_dvd_sales,
        "imdb_rating": movie.imdb_rating,
        "imdb_votes": movie.imdb_votes,
        "rt_rating": movie.rt_rating,
    }


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _title_filter(session: Session, q: str) -> tuple[list[str], sa.ColumnElement[bool]]:
    """The query's words and the WHERE clause that finds them (see ``title_search``).

    A query with no letter or digit at all ("%", "'") has no words: it is matched as a literal
    substring of the title instead, so it still finds "100% Love" and never every film.
    """
    query_words = title_search.words(q)
    if not query_words:
        return [], Movie.title.ilike(f"%{_escape_like(q)}%", escape="\\")
    dialect = session.get_bind().dialect.name
    return query_words, title_search.match_clause(dialect, query_words)


def search_movies(
    session: Session,
    *,
    q: str | None = None,
    genre: str | None = None,
    year_min: int | None = None,
    year_max: int | None = None,
    sort: str | None = None,
    page: int = 1,
    per_page: int = 20,
) -> Page:
    """Return one page of movies matching every given filter.

    ``q`` matches when each of its words starts a word of the title or is the year, in any
    order, accents and case aside. ``sort`` None (or "relevance") ranks by match quality
    when ``q`` is given (``title_search.relevance``, then most rated) and by title when not; a
    column sort keeps its order for the matching movies.
    """
    if sort is not None and sort not in SORT_KEYS:
        raise ValueError(f"sort must be one of {', '.join(SORT_KEYS)}, got {sort!r}")
    query, query_words = _filtered(session, q, genre, year_min, year_max)
    if q and sort in (None, RELEVANCE):
        return _page_by_relevance(session, query, query_words, page, per_page)
    total = session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
    column_sort = "title" if sort in (None, RELEVANCE) else sort
    column = SORT_COLUMNS[column_sort.lstrip("-")]
    direction = column.desc() if column_sort.startswith("-") else column.asc()
    movies = session.scalars(
        query.options(selectinload(Movie.genres))
        .order_by(column.is_(None), direction, Movie.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return Page([movie_to_dict(m) for m in movies], page, per_page, total)


def _filtered(
    session: Session,
    q: str | None,
    genre: str | None,
    year_min: int | None,
    year_max: int | None,
) -> tuple[sa.Select, list[str]]:
    """The movies matching every given filter (see ``search_movies``), and the query's words."""
    query = sa.select(Movie)
    query_words: list[str] = []
    if q:
        query_words, title_filter = _title_filter(session, q)
        query = query.where(title_filter)
    if genre:
        query = query.where(Movie.genres.any(sa.func.lower(Genre.name) == genre.lower()))
    if year_min is not None:
        query = query.where(Movie.year >= year_min)
    if year_max is not None:
        query = query.where(Movie.year <= year_max)
    return query, query_words


def matching_ids(
    session: Session,
    *,
    q: str | None = None,
    genre: str | None = None,
    year_min: int | None = None,
    year_max: int | None = None,
) -> list[int]:
    """The ids of every movie matching the filters of ``search_movies``, in no order (for a
    caller that orders them itself, such as by the user's predictions)."""
    query, _ = _filtered(session, q, genre, year_min, year_max)
    # A Core result: the ORM's row handling cost 100 ms for 62,000 ids.
    return list(session.connection().execute(query.with_only_columns(Movie.id)).scalars())


def page_of(session: Session, ordered_ids: Sequence[int], page: int, per_page: int) -> Page:
    """One page of ``ordered_ids``' movies, in that order."""
    wanted = [int(i) for i in ordered_ids[(page - 1) * per_page : page * per_page]]
    movies = session.scalars(
        sa.select(Movie).where(Movie.id.in_(wanted)).options(selectinload(Movie.genres))
    ).all()
    by_id = {movie.id: movie for movie in movies}
    items = [movie_to_dict(by_id[i]) for i in wanted if i in by_id]
    return Page(items, page, per_page, len(ordered_ids))


def _page_by_relevance(
    session: Session, query: sa.Select, query_words: list[str], page: int, per_page: int
) -> Page:
    """One page of ``query``'s movies, best match first, ranked in Python (the same on every
    backend) over the matching rows' titles and rating counts."""
    ratings = (
        sa.select(sa.func.count())
        .where(Rating.movie_id == Movie.id)
        .correlate(Movie)
        .scalar_subquery()
    )
    rows = session.execute(
        query.with_only_columns(Movie.id, Movie.title, Movie.year, ratings, Movie.imdb_votes)
    ).all()
    candidates = [title_search.Candidate(*row) for row in rows]
    ranked = title_search.rank(query_words, candidates)
    wanted = ranked[(page - 1) * per_page : page * per_page]
    movies = session.scalars(
        sa.select(Movie).where(Movie.id.in_(wanted)).options(selectinload(Movie.genres))
    ).all()
    by_id = {movie.id: movie for movie in movies}
    return Page([movie_to_dict(by_id[i]) for i in wanted], page, per_page, len(ranked))


def get_movie(session: Session, movie_id: int) -> dict[str, Any]:
    """Return one movie, or raise :class:`NotFound`."""
    movie = session.get(Movie, movie_id, options=[selectinload(Movie.genres)])
    if movie is None:
        raise NotFound(f"Movie {movie_id} does not exist", {"movie_id": movie_id})
    return movie_to_dict(movie)


def get_movies(session: Session, movie_ids: list[int]) -> list[dict[str, Any]]:
    """The given movies in the given order (unknown ids left out), in two queries."""
    if not movie_ids:
        return []
    movies = session.scalars(
        sa.select(Movie).where(Movie.id.in_(movie_ids)).options(selectinload(Movie.genres))
    ).all()
    by_id = {movie.id: movie for movie in movies}
    return [movie_to_dict(by_id[i]) for i in movie_ids if i in by_id]


def community_ratings(session: Session, movie_id: int, steps: list[float]) -> dict[str, Any]:
    """How everyone rated ``movie_id``: the count, the mean (None unrated) and one histogram
    bin per value of the scale (``steps``), empty bins included.

    One grouped query over the ratings index on movie_id. A rating given under an older scale
    has no bin but still counts in the count and the mean.
    """
    bins = {round(step, 9): 0 for step in steps}
    count, total = 0, 0.0
    for value, n in session.execute(
        sa.select(Rating.rating, sa.func.count())
        .where(Rating.movie_id == movie_id)
        .group_by(Rating.rating)
    ):
        count += n
        total += value * n
        key = round(value, 9)
        if key in bins:
            bins[key] += n
    return {
        "ratings_count": count,
        "ratings_mean": round(total / count, 3) if count else None,
        "histogram": [{"rating": value, "count": n} for value, n in bins.items()],
    }


def get_movie_details(session: Session, movie_id: int, steps: list[float]) -> dict[str, Any]:
    """One movie with the community's figures (:func:`community_ratings`), or raise
    :class:`NotFound`."""
    return {**get_movie(session, movie_id), **community_ratings(session, movie_id, steps)}


def list_genres(session: Session) -> list[str]:
    """Every genre name, alphabetically."""
    return list(session.scalars(sa.select(Genre.name).order_by(Genre.name)))


def count_movies(session: Session) -> int:
    return session.scalar(sa.select(sa.func.count(Movie.id))) or 0
