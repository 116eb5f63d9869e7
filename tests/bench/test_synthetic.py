"""bench/synthetic.py: a MovieLens-shaped dataset the importer accepts, long-tailed, learnable,
reproducible. (Its speed and the scale figures belong to bench/scale.py, not here.)"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from recommender.engine.factors import FactorSettings, fit_factors
from recommender.engine.scale import RatingScale
from recommender.extensions import db
from recommender.importers.movielens.importer import import_movielens
from recommender.models import Movie, MovieExternalId, Rating, User

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _load_synthetic():
    spec = importlib.util.spec_from_file_location("bench_synthetic", BENCH / "synthetic.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


synthetic = _load_synthetic()
TINY = synthetic.SIZES["tiny"]


def read_ratings(folder: Path) -> np.ndarray:
    return np.loadtxt(folder / "ratings.csv", delimiter=",", skiprows=1)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    folder = tmp_path_factory.mktemp("tiny")
    summary = synthetic.generate(folder, TINY, seed=0)
    assert (summary.users, summary.movies, summary.ratings) == (2_000, 1_000, 100_000)
    return folder, read_ratings(folder)


def test_the_files_have_the_movielens_latest_headers_and_shapes(tiny):
    folder, _ = tiny
    lines = {
        name: (folder / name).read_text().splitlines()
        for name in ("ratings.csv", "movies.csv", "links.csv")
    }
    assert lines["ratings.csv"][0] == "userId,movieId,rating,timestamp"
    assert lines["movies.csv"][0] == "movieId,title,genres"
    assert lines["links.csv"][0] == "movieId,imdbId,tmdbId"
    assert len(lines["ratings.csv"]) == 100_001 and len(lines["movies.csv"]) == 1_001
    assert any(line.endswith(",3.0," + line.rsplit(",", 1)[1]) for line in lines["ratings.csv"])
    assert lines["links.csv"][1].split(",")[1].isdigit()
    assert len(lines["links.csv"][1].split(",")[1]) == 7  # zero-padded like MovieLens


def test_every_user_has_20_ratings_and_activity_has_a_heavy_tail(tiny):
    _, ratings = tiny
    per_user = np.bincount(ratings[:, 0].astype(int))[1:]
    assert len(per_user) == 2_000 and per_user.min() >= 20
    assert per_user.max() > 5 * np.median(per_user)


def test_no_duplicate_pairs_and_popularity_is_long_tailed(tiny):
    _, ratings = tiny
    pairs = ratings[:, 0].astype(np.int64) * 10**7 + ratings[:, 1].astype(np.int64)
    assert len(np.unique(pairs)) == len(pairs)
    per_movie = np.sort(np.unique(ratings[:, 1], return_counts=True)[1])[::-1]
    top_percent = per_movie[: 1_000 // 100].sum() / len(ratings)
    assert top_percent > 0.08  # uniform popularity would give 0.01
    assert per_movie[0] > 20 * np.median(per_movie)


def test_ratings_are_half_stars_and_timestamps_increase_per_user(tiny):
    _, ratings = tiny
    assert set(np.unique(ratings[:, 2])) <= {v / 2 for v in range(1, 11)}
    same_user = ratings[1:, 0] == ratings[:-1, 0]
    assert np.all(ratings[1:, 3][same_user] >= ratings[:-1, 3][same_user])


def test_factors_learned_on_it_beat_the_item_mean_on_held_out_ratings(tiny):
    _, ratings = tiny
    rng = np.random.default_rng(0)
    test = rng.random(len(ratings)) < 0.2
    _, users = np.unique(ratings[:, 0], return_inverse=True)
    _, items = np.unique(ratings[:, 1], return_inverse=True)
    values = ratings[:, 2]
    factors = fit_factors(
        users[~test],
        items[~test],
        values[~test],
        users.max() + 1,
        items.max() + 1,
        FactorSettings(n_factors=8, n_iterations=8),
    )
    sums = np.bincount(items[~test], values[~test], minlength=items.max() + 1)
    counts = np.bincount(items[~test], minlength=items.max() + 1)
    item_mean = (sums + 5 * values[~test].mean()) / (counts + 5)
    rmse_items = np.sqrt(np.mean((item_mean[items[test]] - values[test]) ** 2))
    rmse_factors = np.sqrt(np.mean((factors.predict(users[test], items[test]) - values[test]) ** 2))
    assert rmse_factors < 0.95 * rmse_items


def test_the_same_seed_gives_the_same_bytes_and_another_seed_does_not(tmp_path):
    size = synthetic.Size(300, 200, 12_000)
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        synthetic.generate(tmp_path / name, size, seed=seed)
    read = lambda name: (tmp_path / name / "ratings.csv").read_bytes()  # noqa: E731
    assert read("a") == read("b") != read("c")
    assert (tmp_path / "a" / "movies.csv").read_bytes() == (
        tmp_path / "b" / "movies.csv"
    ).read_bytes()


def test_sizes_that_cannot_hold_20_ratings_per_user_are_refused(tmp_path):
    with pytest.raises(ValueError, match="between 20 and"):
        synthetic.generate(tmp_path, synthetic.Size(100, 200, 1_000))


def test_the_importer_accepts_it_whole(app, tmp_path):
    size = synthetic.Size(300, 200, 12_000)
    synthetic.generate(tmp_path, size, seed=3)
    report = import_movielens(db.session, tmp_path, scale=RatingScale(0.5, 5.0, 0.5))
    counts = report.counts
    assert report.layout == "latest"
    assert counts["ratings_inserted"] == 12_000 and counts["movies_inserted"] == 200
    assert counts["movies_merged"] == 0  # every synthetic title is distinct
    assert counts["users_inserted"] == 300
    count = lambda model: db.session.scalar(sa.select(sa.func.count()).select_from(model))  # noqa: E731
    assert (count(Rating), count(Movie), count(User), count(MovieExternalId)) == (
        12_000,
        200,
        300,
        200,
    )
    # "Silent River, The (1987)" became "The Silent River", 1987.
    assert db.session.scalar(sa.select(sa.func.count()).where(Movie.title.like("The %"))) > 0
