"""services.onboarding.starter_movies once people have rated: most rated, well liked, diverse."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import sqlalchemy as sa

from recommender.engine.scale import RatingScale
from recommender.extensions import db
from recommender.importers.movielens.importer import import_movielens
from recommender.models import Movie, Rating, User
from recommender.services import onboarding
from tests.factories import make_movie

STARTERS = 12


def rating_stats() -> tuple[dict[int, tuple[int, float]], float]:
    """Every rated movie's (count, mean), and the mean of all ratings, computed in numpy."""
    rows = np.array(db.session.execute(sa.select(Rating.movie_id, Rating.rating)).all())
    ids, inverse, counts = np.unique(rows[:, 0], return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=rows[:, 1])
    stats = {int(m): (int(c), s / c) for m, c, s in zip(ids, counts, sums, strict=True)}
    return stats, float(rows[:, 1].mean())


def test_starters_from_movielens_100k_are_popular_liked_and_diverse(app, ml100k):
    import_movielens(db.session, ml100k, scale=RatingScale(0.5, 5.0, 0.5))
    stats, global_mean = rating_stats()
    by_count = sorted(stats, key=lambda movie_id: -stats[movie_id][0])

    picked = onboarding.starter_movies(db.session, STARTERS)

    assert len(picked) == len({m["id"] for m in picked}) == STARTERS
    # The most-rated film of all (Star Wars, 583 ratings, mean 4.36) opens the set.
    assert picked[0]["id"] == by_count[0] and picked[0]["title"] == "Star Wars"
    for movie in picked:
        count, mean = stats[movie["id"]]
        assert count >= 100, movie  # well known: the 1% of ML-100K most rated have 300+
        assert mean >= 3.5, movie
        assert by_count.index(movie["id"]) < STARTERS * onboarding.POOL_PER_STARTER
    genres = Counter(genre for movie in picked for genre in movie["genres"])
    assert len(genres) >= 8
    assert max(genres.values()) <= STARTERS / 3  # "not ten dramas"
    # Popular films people disliked are left out: Liar Liar (485 ratings, mean 3.16) and
    # Independence Day (429, 3.44) are among the 12 most rated.
    titles = {movie["title"] for movie in picked}
    assert not {"Liar Liar", "Independence Day (ID4)"} & titles
    assert {"Liar Liar", "Independence Day (ID4)"} <= {
        db.session.get(Movie, movie_id).title for movie_id in by_count[:STARTERS]
    }
    assert global_mean < 3.6


def make_users(count: int, start: int = 0) -> list[int]:
    numbers = range(start, start + count)
    users = [User(username=f"user{n}", source="test", external_id=str(n)) for n in numbers]
    db.session.add_all(users)
    db.session.flush()
    return [user.id for user in users]


def rate(users: list[int], movie: Movie, values: list[float]) -> None:
    db.session.add_all(
        Rating(user_id=user_id, movie_id=movie.id, rating=value)
        for user_id, value in zip(users, values, strict=False)
    )


def test_a_handful_of_ratings_never_makes_a_starter_and_too_few_are_topped_up(app):
    users = make_users(40)
    loved_by_few = make_movie("Cult Gem", 1990, ("Drama",), imdb_votes=10)
    popular = [
        make_movie(f"Hit {n}", 2000 + n, (genre,), imdb_votes=100 + n)
        for n, genre in enumerate(["Action", "Comedy", "Drama", "Horror", "Western"])
    ]
    disliked = make_movie("Big Flop", 2001, ("Action",), imdb_votes=10**6)
    make_movie("Famous", 1970, ("Crime",), imdb_votes=10**7)
    make_movie("Classic", 1960, ("Drama",), imdb_votes=5000)
    rate(users[:5], loved_by_few, [5.0] * 5)
    for n, movie in enumerate(popular):
        rate(users, movie, [4.0, 5.0] * (20 + n))  # 40 ratings each, mean 4.5
    rate(users, disliked, [1.0, 2.0] * 30)
    db.session.commit()

    picked = [m["title"] for m in onboarding.starter_movies(db.session, 7)]

    # The five well-liked films with many ratings first; then, as no other film has enough
    # ratings, the catalogue's best known (IMDb votes), except the flop many rated low.
    assert picked[:5] == ["Hit 0", "Hit 1", "Hit 2", "Hit 3", "Hit 4"]
    assert picked[5:] == ["Famous", "Classic"]
    # Five perfect ratings make no starter.
    assert "Cult Gem" not in picked and "Big Flop" not in picked


def test_no_genre_takes_more_than_a_third_while_others_are_at_hand(app):
    users = make_users(60)
    dramas = [make_movie(f"Drama {n}", 1990 + n, ("Drama",)) for n in range(10)]
    others = [
        make_movie(f"Other {n}", 1980 + n, (genre,))
        for n, genre in enumerate(["Comedy", "Action", "Horror", "Western", "War", "Crime"])
    ]
    # Dramas are the most rated; every film is liked alike (mean 4.5).
    for n, movie in enumerate(itertools.chain(dramas, others)):
        rate(users, movie, [4.0, 5.0] * (30 - n))
    db.session.commit()

    picked = onboarding.starter_movies(db.session, 9)

    kinds = Counter(movie["genres"][0] for movie in picked)
    assert kinds["Drama"] == 3  # a third of nine, the three most rated dramas
    assert [m["title"] for m in picked if m["genres"] == ["Drama"]] == [
        "Drama 0",
        "Drama 1",
        "Drama 2",
    ]
    assert len(picked) == 9 and len(kinds) == 7


def test_the_cache_keeps_a_set_per_feature_version_until_it_expires(app):
    users = make_users(30)
    first, second = (make_movie(title, 2000, ("Drama",)) for title in ("First", "Second"))
    rate(users, first, [4.0] * 30)
    db.session.commit()
    cache = onboarding.StarterCache(seconds=600)

    def titles(version: int, fresh: onboarding.StarterCache = cache) -> list[str]:
        picked = onboarding.starter_movies(db.session, 1, cache=fresh, version=version)
        return [movie["title"] for movie in picked]

    assert titles(1) == ["First"]
    rate(users, second, [5.0] * 30)
    db.session.add_all(Rating(user_id=u, movie_id=first.id, rating=1.0) for u in make_users(30, 30))
    db.session.commit()
    # Same version: the aggregate is not run again, the set stays.
    assert titles(1) == ["First"]
    # A new version (an import, a retrain) or an expired entry: the ratings as they are now.
    assert titles(2) == ["Second"]
    assert titles(1, onboarding.StarterCache(seconds=0)) == ["Second"]
