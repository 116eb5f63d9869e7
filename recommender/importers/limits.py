"""The catalogue's size limit, checked by every importer before it writes a movie.

Every worker holds the whole catalogue's feature matrix in memory and every prediction scans
it (docs/scaling.md measures the cost per movie): an import that would take the catalogue past
``MAX_CATALOGUE_MOVIES`` is refused as a whole, before anything is written.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from recommender.models import Movie

# config.py's MAX_CATALOGUE_MOVIES: the importers' own default when called without a setting.
DEFAULT_MAX_CATALOGUE_MOVIES = 200_000


def catalogue_limit_problem(
    session: Session, new_movies: int, file_movies: int, limit: int
) -> str | None:
    """Return why adding ``new_movies`` (of the file's ``file_movies``) is refused, or None."""
    if new_movies <= 0:
        return None
    current = session.scalar(sa.select(sa.func.count()).select_from(Movie)) or 0
    if current + new_movies <= limit:
        return None
    return (
        f"the file's {file_movies:,} movies ({new_movies:,} of them new) would take the "
        f"catalogue from {current:,} to {current + new_movies:,} movies, over its limit of "
        f"{limit:,} (MAX_CATALOGUE_MOVIES)"
    )


def too_many_in_file(file_movies: int, limit: int) -> str:
    """Return the refusal of a file that alone holds more movies than ``limit``."""
    return (
        f"the file holds more than {limit:,} movies, over the catalogue's limit of {limit:,} "
        f"(MAX_CATALOGUE_MOVIES); reading stopped at movie {file_movies:,}"
    )
