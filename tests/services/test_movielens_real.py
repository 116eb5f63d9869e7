"""MovieLens 100K itself, fetched at run time from the RecBole wheel (never committed)."""

from __future__ import annotations

import sqlalchemy as sa

from recommender.engine.scale import RatingScale
from recommender.extensions import db
from recommender.importers.movielens.importer import import_movielens
from recommender.models import Movie, MovieExternalId, Rating, User


def count(model: type) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_movielens_100k_imports_whole_through_the_recbole_layout(app, ml100k):
    report = import_movielens(db.session, ml100k, scale=RatingScale(0.5, 5.0, 0.5))

    assert (report.layout, report.dataset) == ("recbole", "ml-100k")
    c = report.counts
    assert c["rating_lines"] == 100_000
    assert c["users_inserted"] == count(User) == 943
    # 1,682 item ids, of which 18 repeat another's title and year: 1,664 films.
    assert count(MovieExternalId) == 1_682
    assert c["movies_inserted"] == count(Movie) == 1_664 and c["movies_merged"] == 18
    # 307 users rated both ids of one film: the later rating is kept.
    assert c["ratings_merged"] == 307
    assert c["ratings_inserted"] == count(Rating) == 100_000 - 307
    assert db.session.scalar(sa.select(Movie.year).filter_by(title="Toy Story")) == 1995
    assert db.session.scalar(sa.select(Movie.id).filter_by(title="The Usual Suspects", year=1995))
