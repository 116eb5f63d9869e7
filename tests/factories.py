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
