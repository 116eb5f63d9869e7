"""A synthetic MovieLens dataset of any size, in the MovieLens latest/25M layout.

Writes ``ratings.csv`` (``userId,movieId,rating,timestamp``), ``movies.csv``
(``movieId,title,genres`` with "Title (Year)" and ``|``-separated genres) and ``links.csv``
(``movieId,imdbId,tmdbId``), which ``recommender import movielens DIR`` reads as the ``latest``
layout. The shape follows MovieLens 25M (162,541 users, 62,423 movies, 25,000,095 ratings):

* user activity: every user has at least 20 ratings, plus a log-normal extra (median about 70
  ratings, mean about 150, a heavy tail reaching tens of thousands at full size);
* movie popularity: Zipf-like weights ``(rank + offset) ** -exponent`` over a random order of
  the movies, so a few hundred movies hold a large share of the ratings and most have a few;
  each user's movies are a popularity-weighted sample *without replacement* (no duplicate
  (user, movie) pairs), popular ones first, as MovieLens shows them when people sign up;
* ratings: ``mu + b_u + b_i + p_u . q_i + noise`` (latent factors partly shared by genre),
  rounded to the half-star scale 0.5..5 and clipped; users who joined before half stars
  existed (February 2003) use whole stars only. The factors are learnable, so ``retrain`` has
  something to find;
* timestamps: users join in id order between 1995 and 2019; each user's ratings increase in
  time, in file order.

Everything is vectorised numpy, generated and written in chunks of users, so memory stays
bounded whatever the size; the same arguments and seed give the same bytes.

Run: ``python bench/synthetic.py --out /tmp/ml-synthetic --users 162000 --movies 62000
--ratings 25000000 --seed 0`` (sizes ``--size small|medium|25m`` too).
"""

from __future__ import annotations

import argparse
import csv
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

MIN_RATINGS_PER_USER = 20
# Users generated and written per chunk: bounds the memory (and fixes the random streams, so
# it is part of what makes a dataset reproducible: do not change it casually).
CHUNK_USERS = 2048
# A user rating more than this share of the catalogue is sampled by an exponential race over
# the whole catalogue instead of draws with replacement (which would collide too often).
RACE_SHARE = 1 / 16
FIRST_TIMESTAMP = 789_652_009  # 1995-01-09, the first MovieLens rating
LAST_TIMESTAMP = 1_574_327_703  # 2019-11-21, the last one in MovieLens 25M
HALF_STARS_FROM = 1_045_526_400  # 2003-02-18: MovieLens introduced half stars
N_FACTORS = 8
GENRES = (
    ("Drama", 0.45),
    ("Comedy", 0.30),
    ("Thriller", 0.14),
    ("Romance", 0.12),
    ("Action", 0.12),
    ("Horror", 0.08),
    ("Documentary", 0.08),
    ("Crime", 0.08),
    ("Adventure", 0.07),
    ("Sci-Fi", 0.06),
    ("Children", 0.05),
    ("Animation", 0.05),
    ("Mystery", 0.04),
    ("Fantasy", 0.04),
    ("War", 0.03),
    ("Western", 0.02),
    ("Musical", 0.02),
    ("Film-Noir", 0.005),
    ("IMAX", 0.003),
)
ADJECTIVES = (  # noqa: SIM905 (a list literal would take 80 lines)
    "Silent Broken Golden Hidden Last Lost Dark Bright Wild Quiet Burning Frozen Secret "
    "Empty Electric Little Crimson Distant Endless Final Fallen Forgotten Hollow Iron Lonely "
    "Midnight Naked Northern Pale Perfect Restless Savage Scarlet Shining Sleeping Stolen "
    "Strange Sweet Twisted Velvet Wandering Wicked Winter Yellow Blue Crooked Dead Deep "
    "Eternal First Glass Great Green Holy Invisible Long Mad Magnificent Rising"
).split()
NOUNS = (  # noqa: SIM905 (a list literal would take 80 lines)
    "River Road City Heart Garden House Night Sky Island Mirror Season Summer Horizon "
    "Kingdom Station Shadow Storm Dream Empire Fire Forest Harbor Highway Hunter Journey "
    "Letter Machine Mountain Ocean Orchard Planet Promise Queen Rain Shore Signal Soldier "
    "Song Stranger Street Sun Tide Tower Train Valley Voice Wall War Water Wind Window Wolf "
    "World Angel Bridge Castle Child Circle Code Country Crown Dance Desert Door Engine "
    "Field Flower Ghost Girl Glory Hotel King Lake Legacy Light Line Man Moon Paradise Party"
).split()
ARTICLES = ("The", "A")


@dataclass(frozen=True)
class Size:
    users: int
    movies: int
    ratings: int


SIZES = {
    "tiny": Size(2_000, 1_000, 100_000),  # the tests' size
    "small": Size(16_000, 6_000, 1_000_000),
    "medium": Size(40_000, 30_000, 2_500_000),
    "25m": Size(162_000, 62_000, 25_000_000),
}


@dataclass(frozen=True)
class Summary:
    """What was written, for the caller and the tests."""

    users: int
    movies: int
    ratings: int
    seconds: float


def _user_counts(rng: np.random.Generator, size: Size, cap: int) -> NDArray[np.int64]:
    """Ratings per user: 20 plus a log-normal extra, summing to ``size.ratings`` exactly."""
    extra_total = size.ratings - MIN_RATINGS_PER_USER * size.users
    # sigma 1.39 gives MovieLens 25M's mean/median of the extra (about 134 / 51).
    weights = rng.lognormal(0.0, 1.39, size.users)
    extra = np.zeros(size.users, dtype=np.int64)
    room = np.full(size.users, cap - MIN_RATINGS_PER_USER, dtype=np.int64)
    left = extra_total
    # Water-filling: whatever a capped user cannot take goes to the others in proportion.
    while left > 0:
        open_ = extra < room
        share = weights * open_ / (weights * open_).sum() * left
        add = np.minimum(np.floor(share).astype(np.int64), room - extra)
        if add.sum() == 0:  # rounding leftovers: one each to the heaviest users with room
            order = np.argsort(-(weights * open_), kind="stable")[:left]
            add = np.zeros_like(extra)
            add[order] = 1
        extra += add
        left = extra_total - int(extra.sum())
    return MIN_RATINGS_PER_USER + extra


def _titles(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` distinct titles (distinct after moving a trailing article to the front too)."""
    bases = [f"{adj} {noun}" for adj in ADJECTIVES for noun in NOUNS]
    # MovieLens writes "Silent River, The": the importer moves the article to the front.
    bases += [f"{adj} {noun}, {art}" for art in ARTICLES for adj in ADJECTIVES for noun in NOUNS]
    bases += [f"{a} of the {b}" for a in NOUNS for b in NOUNS if a != b]
    order = rng.permutation(len(bases))
    titles = []
    for i in range(n):
        base = bases[order[i % len(bases)]]
        sequel = i // len(bases)
        titles.append(base if sequel == 0 else f"{base} {sequel + 1}")
    return titles


def _write_movies(
    rng: np.random.Generator, out: Path, movie_ids: NDArray[np.int64]
) -> NDArray[np.bool_]:
    """Write movies.csv and links.csv; return the movies x genres flags."""
    n = len(movie_ids)
    titles = _titles(rng, n)
    # More films every decade, as in MovieLens.
    years = np.clip(np.round(2019 - rng.exponential(22.0, n)), 1902, 2019).astype(int)
    names = [name for name, _ in GENRES]
    shares = np.array([share for _, share in GENRES])
    picks = rng.random((n, len(GENRES))) < shares
    with (out / "movies.csv").open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(["movieId", "title", "genres"])
        for i, movie_id in enumerate(movie_ids.tolist()):
            genres = [names[g] for g in np.flatnonzero(picks[i])] or ["(no genres listed)"]
            writer.writerow([movie_id, f"{titles[i]} ({years[i]})", "|".join(genres)])
    imdb = rng.choice(9_999_999, n, replace=False) + 1
    tmdb = rng.choice(999_999, n, replace=False) + 1
    has_tmdb = rng.random(n) > 0.002  # a few MovieLens links lack a TMDB id
    with (out / "links.csv").open("w", encoding="utf-8") as stream:
        stream.write("movieId,imdbId,tmdbId\n")
        stream.writelines(
            f"{m},{i:07d},{t if has else ''}\n"
            for m, i, t, has in zip(
                movie_ids.tolist(), imdb.tolist(), tmdb.tolist(), has_tmdb.tolist(), strict=True
            )
        )
    return picks


def _sample_movies(
    rng: np.random.Generator,
    counts: NDArray[np.int64],
    weights: NDArray[np.float64],
    cdf: NDArray[np.float64],
) -> list[NDArray[np.int64]]:
    """Each user's ``counts[u]`` distinct movie rows, popularity-weighted, most popular first.

    Draws with replacement and keeps the first occurrences (which is exactly weighted sampling
    without replacement); a user left short, or too heavy for that, gets an exponential race
    over the whole catalogue (the same distribution, O(catalogue) per user).
    """
    n_movies = len(weights)
    chosen: list[NDArray[np.int64] | None] = [None] * len(counts)
    light = np.flatnonzero(counts <= RACE_SHARE * n_movies)
    draws = np.ceil(counts[light] * 1.3).astype(np.int64) + 8
    owner = np.repeat(np.arange(len(light)), draws)
    movies = np.searchsorted(cdf, rng.random(len(owner)) * cdf[-1], side="right")
    movies = np.minimum(movies, n_movies - 1)
    _, first = np.unique(owner * n_movies + movies, return_index=True)
    first.sort()  # draw order, user by user
    owner_first, movie_first = owner[first], movies[first]
    starts = np.searchsorted(owner_first, np.arange(len(light) + 1))
    heavy = list(np.flatnonzero(counts > RACE_SHARE * n_movies))
    for j, user in enumerate(light.tolist()):
        start, stop = starts[j], starts[j + 1]
        if stop - start >= counts[user]:
            chosen[user] = movie_first[start : start + counts[user]]
        else:
            heavy.append(user)
    for user in heavy:
        n = int(counts[user])
        keys = rng.exponential(size=n_movies) / weights
        picked = np.argpartition(keys, n - 1)[:n]
        chosen[user] = picked[np.argsort(keys[picked])]
    return chosen  # type: ignore[return-value]


def generate(out: Path, size: Size, seed: int = 0, log: bool = False) -> Summary:
    """Write the dataset of ``size`` into the folder ``out`` (created); return what it holds."""
    if size.users < 1 or size.movies < 2 * MIN_RATINGS_PER_USER:
        raise ValueError(f"need at least 1 user and {2 * MIN_RATINGS_PER_USER} movies: {size}")
    cap = max(MIN_RATINGS_PER_USER, size.movies // 2)
    if not MIN_RATINGS_PER_USER * size.users <= size.ratings <= cap * size.users:
        raise ValueError(
            f"{size.ratings:,} ratings for {size.users:,} users: need between "
            f"{MIN_RATINGS_PER_USER} and {cap:,} (half the movies) per user"
        )
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 0])
    # Sparse, ascending ids like MovieLens's (up to 209,171 for 62,423 movies).
    movie_ids = np.sort(rng.choice(3 * size.movies, size.movies, replace=False) + 1)
    genre_picks = _write_movies(rng, out, movie_ids)

    # Popularity: Zipf-like weights over a random order of the movies.
    rank = rng.permutation(size.movies)
    weights = (rank + 0.002 * size.movies + 5.0) ** -1.2
    cdf = np.cumsum(weights)
    # Item side of the rating model: genre directions plus each movie's own.
    genre_vectors = rng.normal(0.0, 1.0, (len(GENRES), N_FACTORS))
    per_genre = genre_picks @ genre_vectors / np.maximum(genre_picks.sum(1, keepdims=True), 1)
    item_factors = (0.7 * per_genre + 0.7 * rng.normal(0.0, 1.0, per_genre.shape)) / math.sqrt(
        N_FACTORS
    )
    popularity_z = (np.log(weights) - np.log(weights).mean()) / np.log(weights).std()
    item_bias = rng.normal(0.0, 0.4, size.movies) + 0.15 * popularity_z

    counts = _user_counts(rng, size, cap)
    joined = np.sort(rng.integers(FIRST_TIMESTAMP, LAST_TIMESTAMP - 86_400, size.users))
    rating_levels = [f"{v / 2:.1f}" for v in range(11)]
    written = 0
    with (out / "ratings.csv").open("w", encoding="ascii") as stream:
        stream.write("userId,movieId,rating,timestamp\n")
        for chunk, start in enumerate(range(0, size.users, CHUNK_USERS)):
            stop = min(start + CHUNK_USERS, size.users)
            crng = np.random.default_rng([seed, 1, chunk])
            chunk_counts = counts[start:stop]
            rows = np.concatenate(_sample_movies(crng, chunk_counts, weights, cdf))
            user = np.repeat(np.arange(start, stop), chunk_counts)
            local = user - start
            user_factors = crng.normal(0.0, 1.4, (stop - start, N_FACTORS)) / math.sqrt(N_FACTORS)
            user_bias = crng.normal(0.0, 0.45, stop - start)
            score = (
                3.2
                + user_bias[local]
                + item_bias[rows]
                + np.einsum("ij,ij->i", user_factors[local], item_factors[rows])
                + crng.normal(0.0, 0.7, len(rows))
            )
            # Gaps between a user's ratings: seconds for most, days for some heavy users.
            gaps = crng.lognormal(crng.normal(3.5, 1.2, stop - start)[local], 1.5)
            elapsed = np.cumsum(gaps)
            ends = np.cumsum(chunk_counts) - 1
            before = np.r_[0.0, elapsed[ends[:-1]]]
            elapsed -= before[local]
            room = LAST_TIMESTAMP - joined[start:stop]
            squeeze = np.minimum(1.0, room / elapsed[ends])
            stamps = joined[start:stop][local] + (elapsed * squeeze[local]).astype(np.int64)
            whole_stars = joined[start:stop][local] < HALF_STARS_FROM
            halves = np.where(whole_stars, np.round(score) * 2, np.round(score * 2))
            halves = np.clip(halves, np.where(whole_stars, 2, 1), 10).astype(np.int64)
            stream.write(
                "".join(
                    f"{u},{m},{rating_levels[r]},{t}\n"
                    for u, m, r, t in zip(
                        (user + 1).tolist(),
                        movie_ids[rows].tolist(),
                        halves.tolist(),
                        stamps.tolist(),
                        strict=True,
                    )
                )
            )
            written += len(rows)
            if log and chunk % 10 == 0:
                print(f"  {stop:,}/{size.users:,} users, {written:,} ratings", flush=True)
    return Summary(size.users, size.movies, written, time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder to write (created)")
    parser.add_argument("--size", choices=sorted(SIZES), help="a preset size (default: 25m)")
    parser.add_argument("--users", type=int)
    parser.add_argument("--movies", type=int)
    parser.add_argument("--ratings", type=int)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    preset = SIZES[args.size or "25m"]
    size = Size(
        args.users or preset.users, args.movies or preset.movies, args.ratings or preset.ratings
    )
    summary = generate(args.out, size, args.seed, log=True)
    print(
        f"{args.out}: {summary.users:,} users, {summary.movies:,} movies, "
        f"{summary.ratings:,} ratings in {summary.seconds:.1f} s"
    )


if __name__ == "__main__":
    main()
