"""Small factories that write rows straight through the models."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from recommender.extensions import db
from recommender.models import Genre, Movie


def make_movie(title: str, year: int | None = 2000, genres: tuple[str, ...] = (), **attrs: Any):
    """Insert one movie with its genres (created on demand) and return it."""
    genre_rows = []
    for name in genres:
        genre = db.session.scalar(sa.select(Genre).where(Genre.name == name))
        genre_rows.append(genre or Genre(name=name))
    movie = Movie(title=title, year=year, genres=genre_rows, **attrs)
    db.session.add(movie)
    db.session.commit()
    return movie


VARIED_GENRES = ("Drama", "Comedy", "Action", "Horror", "Romance")


def make_varied_movies(count: int, **extra: Any) -> list[Movie]:
    """``count`` movies ("Film 00", ...) whose year, genre, runtime and IMDb figures vary, so
    that neighbours are well defined; ``extra`` maps an attribute to a function of the index."""
    return [
        make_movie(
            f"Film {i:02d}",
            1950 + (i * 7) % 60,
            (VARIED_GENRES[i % 5],),
            runtime_min=80 + (i * 13) % 90,
            imdb_rating=round(3 + (i * 37 % 60) / 10, 1),
            imdb_votes=100 + i * 997 % 50_000,
            **{name: value(i) for name, value in extra.items()},
        )
        for i in range(count)
    ]
