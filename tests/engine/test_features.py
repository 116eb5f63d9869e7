"""Tests for recommender.engine.features: movie dicts -> normalised feature matrix."""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recommender.engine.features import (
    DEFAULT_SPEC,
    CategoricalColumn,
    FeatureMatrix,
    FeatureSpec,
    NumericColumn,
    build_feature_matrix,
)


@pytest.fixture(autouse=True)
def strict_numerics() -> Iterator[None]:
    """A numpy floating-point event (x/0, 0/0, overflow, invalid) or any warning fails."""
    with warnings.catch_warnings(), np.errstate(all="raise", under="ignore"):
        warnings.simplefilter("error")
        yield


def spec_of(*columns: NumericColumn | CategoricalColumn) -> FeatureSpec:
    return FeatureSpec(columns)


def column(matrix: FeatureMatrix, name: str) -> np.ndarray:
    return matrix.values[:, matrix.columns.index(name)]


# --------------------------------------------------------------------------- numeric columns


def test_min_max_scales_to_unit_interval() -> None:
    matrix = build_feature_matrix(
        [{"year": 2000}, {"year": 2010}, {"year": 2005}], spec_of(NumericColumn("year"))
    )
    assert matrix.columns == ("year",)
    assert matrix.values.dtype == np.float64
    assert matrix.values.shape == (3, 1)
    np.testing.assert_array_equal(matrix.values[:, 0], [0.0, 1.0, 0.5])


def test_log_transform_matches_hand_computation() -> None:
    # log1p: 0, ln 10, ln 100, ln 1000 -> min-max: 0, 1/3, 2/3, 1
    movies = [{"budget": b} for b in (0, 9, 99, 999)]
    matrix = build_feature_matrix(movies, spec_of(NumericColumn("budget", "log")))
    np.testing.assert_allclose(matrix.values[:, 0], [0.0, 1 / 3, 2 / 3, 1.0], rtol=1e-12)
    linear = build_feature_matrix(movies, spec_of(NumericColumn("budget")))
    np.testing.assert_allclose(linear.values[:, 0], [0.0, 9 / 999, 99 / 999, 1.0], rtol=1e-12)


@given(st.lists(st.integers(0, 10**15) | st.floats(0, 1e300), min_size=2, max_size=50))
def test_log_transform_is_monotone(raw: list[float]) -> None:
    matrix = build_feature_matrix(
        [{"votes": v} for v in raw], spec_of(NumericColumn("votes", "log"))
    )
    scaled = matrix.values[:, 0]
    order = np.argsort(np.asarray(raw, dtype=np.float64), kind="stable")
    assert np.all(np.diff(scaled[order]) >= 0)


def test_log_of_negative_names_column_and_row() -> None:
    movies = [{"budget": 10}, {"budget": None}, {"budget": -5}]
    with pytest.raises(ValueError, match=r"'budget', row 2.*negative"):
        build_feature_matrix(movies, spec_of(NumericColumn("budget", "log")))


def test_median_imputation_odd_count() -> None:
    # known: 2000, 2004, 2010 -> median 2004 -> (2004 - 2000) / 10
    movies = [{"year": 2000}, {"year": None}, {"year": 2010}, {}, {"year": 2004}]
    matrix = build_feature_matrix(movies, spec_of(NumericColumn("year")))
    np.testing.assert_allclose(matrix.values[:, 0], [0.0, 0.4, 1.0, 0.4, 0.4])
    assert matrix.imputed == {"year": 2004.0}
    assert matrix.missing_counts == {"year": 2}


def test_median_imputation_even_count() -> None:
    # known: 1, 2, 3, 10 -> median 2.5 -> (2.5 - 1) / 9
    movies = [{"x": 1}, {"x": 2}, {"x": None}, {"x": 3}, {"x": 10}]
    matrix = build_feature_matrix(movies, spec_of(NumericColumn("x")))
    assert matrix.imputed["x"] == 2.5
    assert matrix.values[2, 0] == pytest.approx(1.5 / 9)


def test_log_median_is_taken_on_the_log_scale_and_recorded_in_original_units() -> None:
    # odd: the middle movie's own value, exactly
    odd = build_feature_matrix(
        [{"v": 9}, {"v": 99}, {"v": 999}, {"v": None}], spec_of(NumericColumn("v", "log"))
    )
    assert odd.imputed["v"] == 99.0
    assert odd.values[3, 0] == pytest.approx(0.5)
    # even: mean of ln 1 and ln 100 = ln 10 -> 9 in original units (not the arithmetic 49.5)
    even = build_feature_matrix(
        [{"v": 0}, {"v": 99}, {"v": None}], spec_of(NumericColumn("v", "log"))
    )
    assert even.imputed["v"] == pytest.approx(9.0)
    assert even.values[2, 0] == pytest.approx(0.5)


def test_entirely_missing_column_is_zero_and_recorded_as_nan() -> None:
    movies = [{"year": 2000, "rt_rating": None}, {"year": 2001}]
    matrix = build_feature_matrix(
        movies, spec_of(NumericColumn("year"), NumericColumn("rt_rating"))
    )
    np.testing.assert_array_equal(column(matrix, "rt_rating"), [0.0, 0.0])
    assert math.isnan(matrix.imputed["rt_rating"])
    assert matrix.missing_counts["rt_rating"] == 2


@pytest.mark.parametrize("transform", ["linear", "log"])
@pytest.mark.parametrize("values", [[7, 7, 7], [7], [7, None, 7]])
def test_constant_column_is_all_zeros_without_warnings(
    transform: str, values: list[int | None]
) -> None:
    matrix = build_feature_matrix(
        [{"x": v} for v in values], spec_of(NumericColumn("x", transform))
    )
    np.testing.assert_array_equal(matrix.values[:, 0], np.zeros(len(values)))


def test_nan_counts_as_missing() -> None:
    matrix = build_feature_matrix(
        [{"x": 0.0}, {"x": math.nan}, {"x": 4.0}, {"x": 1.0}], spec_of(NumericColumn("x"))
    )
    assert matrix.missing_counts["x"] == 1
    assert matrix.values[1, 0] == pytest.approx(0.25)


def test_numpy_and_decimal_numbers_are_accepted() -> None:
    movies = [{"x": np.int64(1)}, {"x": np.float32(2.0)}, {"x": Decimal("3")}, {"x": 5}]
    matrix = build_feature_matrix(movies, spec_of(NumericColumn("x")))
    np.testing.assert_allclose(matrix.values[:, 0], [0.0, 0.25, 0.5, 1.0])


@pytest.mark.parametrize("bad", ["abc", "12", True, [1], {"v": 1}, math.inf, -math.inf, 10**400])
def test_bad_numeric_value_names_column_and_row(bad: Any) -> None:
    movies = [
        {"runtime_min": 90},
        {"runtime_min": None},
        {"runtime_min": 100},
        {"runtime_min": bad},
    ]
    with pytest.raises(ValueError, match=r"'runtime_min', row 3"):
        build_feature_matrix(movies, spec_of(NumericColumn("runtime_min")))


def test_extreme_magnitudes_stay_finite() -> None:
    # the span and the even-count median both overflow if computed naively
    movies = [{"x": -1.7e308}, {"x": 1.7e308}, {"x": None}, {"x": 1.6e308}, {"x": 1.5e308}]
    matrix = build_feature_matrix(movies, spec_of(NumericColumn("x")))
    assert np.all(np.isfinite(matrix.values))
    assert matrix.values[0, 0] == 0.0
    assert matrix.values[1, 0] == 1.0
    assert matrix.imputed["x"] == pytest.approx(1.55e308)


# ----------------------------------------------------------------------- categorical columns

MOVIES = [
    {"genres": ["Drama"], "mpaa": "R"},
    {"genres": ["Comedy", "Drama"], "mpaa": "PG-13"},
    {"genres": [], "mpaa": None},
    {"mpaa": "R"},
    {"genres": ["Action", "Action"], "mpaa": "G"},
]


def test_genres_multi_hot_and_mpaa_one_hot() -> None:
    spec = spec_of(CategoricalColumn("genres", multi=True), CategoricalColumn("mpaa"))
    matrix = build_feature_matrix(MOVIES, spec)
    assert matrix.columns == (
        "genres=Action",
        "genres=Comedy",
        "genres=Drama",
        "mpaa=G",
        "mpaa=PG-13",
        "mpaa=R",
    )
    expected = [
        [0, 0, 1, 0, 0, 1],
        [0, 1, 1, 0, 1, 0],
        [0, 0, 0, 0, 0, 0],  # missing category: all zeros, no "unknown" column
        [0, 0, 0, 0, 0, 1],
        [1, 0, 0, 1, 0, 0],  # a repeated label is still 1
    ]
    np.testing.assert_array_equal(matrix.values, np.asarray(expected, dtype=np.float64))
    assert matrix.missing_counts == {"genres": 2, "mpaa": 1}
    assert matrix.imputed == {}


@pytest.mark.parametrize(
    ("col", "value", "fragment"),
    [
        (CategoricalColumn("mpaa"), 13, r"'mpaa', row 1: label 13"),
        (CategoricalColumn("genres", multi=True), "Drama", r"'genres', row 1: expected a list"),
        (CategoricalColumn("genres", multi=True), ["Drama", None], r"'genres', row 1: label None"),
    ],
)
def test_bad_label_names_column_and_row(col: CategoricalColumn, value: Any, fragment: str) -> None:
    movies = [{col.name: ["Drama"] if col.multi else "R"}, {col.name: value}]
    with pytest.raises(ValueError, match=fragment):
        build_feature_matrix(movies, spec_of(col))


# ------------------------------------------------------------------------------- weights


def test_weights_scale_columns() -> None:
    movies = [{"year": 2000, "mpaa": "R"}, {"year": 2010, "mpaa": "PG"}, {"year": 2005}]
    spec = spec_of(NumericColumn("year", weight=2.5), CategoricalColumn("mpaa", weight=3.0))
    matrix = build_feature_matrix(movies, spec)
    assert matrix.columns == ("year", "mpaa=PG", "mpaa=R")
    np.testing.assert_allclose(matrix.values, [[0.0, 0.0, 3.0], [2.5, 3.0, 0.0], [1.25, 0, 0]])


def test_weight_zero_drops_columns_entirely() -> None:
    # the dropped columns are not even read: their bad values raise nothing
    movies = [{"year": 2000, "mpaa": 5, "budget": "abc"}, {"year": 2010, "mpaa": "R"}]
    spec = spec_of(
        NumericColumn("year"),
        NumericColumn("budget", "log", weight=0),
        CategoricalColumn("mpaa", weight=0.0),
    )
    matrix = build_feature_matrix(movies, spec)
    assert matrix.columns == ("year",)
    assert matrix.values.shape == (2, 1)
    assert set(matrix.missing_counts) == {"year"}
    assert set(matrix.imputed) == {"year"}


# ------------------------------------------------------------------------------ the spec


def test_default_spec() -> None:
    names = [c.name for c in DEFAULT_SPEC.columns]
    assert names == [
        "year",
        "runtime_min",
        "budget",
        "imdb_rating",
        "imdb_votes",
        "rt_rating",
        "genres",
        "mpaa",
    ]
    logs = {c.name for c in DEFAULT_SPEC.columns if getattr(c, "transform", None) == "log"}
    assert logs == {"budget", "imdb_votes"}
    assert CategoricalColumn("genres", multi=True) in DEFAULT_SPEC.columns


def test_from_dict_round_trip_through_json() -> None:
    assert FeatureSpec.from_dict(json.loads(json.dumps(DEFAULT_SPEC.to_dict()))) == DEFAULT_SPEC
    spec = FeatureSpec.from_dict(
        {
            "numeric": {
                "year": {"transform": "linear", "weight": 1.0},
                "budget": {"transform": "log"},
            },
            "categorical": {"genres": {"multi": True, "weight": 2}, "mpaa": {}},
        }
    )
    assert spec.columns == (
        NumericColumn("year"),
        NumericColumn("budget", "log"),
        CategoricalColumn("genres", weight=2.0, multi=True),
        CategoricalColumn("mpaa"),
    )
    assert FeatureSpec.from_dict(spec.to_dict()) == spec
    assert FeatureSpec.from_dict({"numeric": {"year": {}}}) == spec_of(NumericColumn("year"))


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ([("year", {})], "must be a mapping"),
        ({"numerics": {}}, "unknown section.*numerics"),
        ({"numeric": ["year"]}, "'numeric' must map column names"),
        ({"numeric": {"year": "linear"}}, "numeric column 'year': entry must be a mapping"),
        ({"numeric": {"year": {"transform": "sqrt"}}}, "'year': unknown transform 'sqrt'"),
        ({"numeric": {"year": {"weight": -1}}}, "'year': weight must be finite and >= 0"),
        ({"numeric": {"year": {"weight": math.nan}}}, "'year': weight must be finite"),
        ({"numeric": {"year": {"weight": math.inf}}}, "'year': weight must be finite"),
        ({"numeric": {"year": {"weight": "1"}}}, "'year': weight must be a number"),
        ({"numeric": {"year": {"weight": True}}}, "'year': weight must be a number"),
        ({"numeric": {"year": {"wieght": 1}}}, r"'year': unknown key\(s\) \['wieght'\]"),
        ({"categorical": {"genres": {"multi": "yes"}}}, "'genres': multi must be a bool"),
        ({"categorical": {"mpaa": {"transform": "log"}}}, "categorical column 'mpaa': unknown key"),
        ({"categorical": {"": {}}}, "name must be a non-empty string"),
        (
            {"numeric": {"mpaa": {}}, "categorical": {"mpaa": {}}},
            r"duplicate column\(s\) \['mpaa'\]",
        ),
        ({}, "at least one column with a weight > 0"),
        ({"numeric": {"year": {"weight": 0}}}, "at least one column with a weight > 0"),
    ],
)
def test_from_dict_rejects_bad_entries(data: Any, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        FeatureSpec.from_dict(data)


def test_feature_name_collision_is_an_error() -> None:
    spec = spec_of(NumericColumn("mpaa=R"), CategoricalColumn("mpaa"))
    with pytest.raises(ValueError, match="collide"):
        build_feature_matrix([{"mpaa=R": 1, "mpaa": "R"}], spec)


# ---------------------------------------------------------------------- matrix-wide rules


def test_empty_movie_list_is_an_error() -> None:
    with pytest.raises(ValueError, match="empty"):
        build_feature_matrix([])


def test_values_are_read_only() -> None:
    matrix = build_feature_matrix([{"year": 2000}, {"year": 2001}])
    with pytest.raises(ValueError, match="read-only"):
        matrix.values[0, 0] = 1.0


numbers_or_missing = st.none() | st.just(math.nan)
linear_values = numbers_or_missing | st.integers(-(10**9), 10**9) | st.floats(allow_infinity=False)
log_values = numbers_or_missing | st.integers(0, 10**15) | st.floats(0, allow_infinity=False)
GENRES = ["Action", "Comedy", "Drama", "Horror", ""]
movie_dicts = st.fixed_dictionaries(
    {},
    optional={
        "year": linear_values,
        "runtime_min": linear_values,
        "budget": log_values,
        "imdb_rating": linear_values,
        "imdb_votes": log_values,
        "rt_rating": linear_values,
        "genres": st.none() | st.lists(st.sampled_from(GENRES), max_size=3),
        "mpaa": st.none() | st.sampled_from(["R", "PG-13", "PG", "G", "NC-17", "Not Rated", ""]),
    },
)


@st.composite
def weighted_specs(draw: st.DrawFn) -> FeatureSpec:
    weights = st.sampled_from([0.0, 0.5, 1.0, 7.0]) | st.floats(0, 1e6)
    columns = [replace(c, weight=draw(weights)) for c in DEFAULT_SPEC.columns[:-1]]
    columns.append(CategoricalColumn("mpaa", weight=draw(st.floats(0.1, 10))))
    return FeatureSpec(tuple(columns))


@settings(max_examples=150, deadline=None)
@given(st.lists(movie_dicts, min_size=1, max_size=40), weighted_specs())
def test_values_are_finite_and_within_weight(
    movies: list[dict[str, Any]], spec: FeatureSpec
) -> None:
    matrix = build_feature_matrix(movies, spec)
    weight = {c.name: c.weight for c in spec.columns}
    bounds = np.asarray([weight[name.split("=")[0]] for name in matrix.columns])
    assert matrix.values.shape == (len(movies), len(matrix.columns))
    assert matrix.values.dtype == np.float64
    assert np.all(np.isfinite(matrix.values))
    assert np.all(matrix.values >= 0)
    assert np.all(matrix.values <= bounds)
    assert all(weight[name.split("=")[0]] > 0 for name in matrix.columns)


@settings(deadline=None)
@given(
    st.lists(movie_dicts, min_size=1, max_size=30).flatmap(
        lambda m: st.tuples(st.just(m), st.permutations(range(len(m))))
    )
)
def test_movie_order_does_not_change_columns(case: tuple[list[dict[str, Any]], list[int]]) -> None:
    movies, order = case
    matrix = build_feature_matrix(movies)
    shuffled = build_feature_matrix([movies[i] for i in order])
    assert shuffled.columns == matrix.columns
    assert list(shuffled.columns) == [c for c in matrix.columns if "=" not in c] + sorted(
        c for c in matrix.columns if c.startswith("genres=")
    ) + sorted(c for c in matrix.columns if c.startswith("mpaa="))
    np.testing.assert_array_equal(shuffled.values, matrix.values[order])
    assert build_feature_matrix(movies).columns == matrix.columns


# --------------------------------------------------------------------- the real catalogue

CATALOGUES = [
    Path(__file__).resolve().parents[2] / "recommender" / "data" / "movies.json",
    Path("/work/shared/data/movies.json"),
]


def _from_catalogue(record: dict[str, Any]) -> dict[str, Any]:
    year = int(record["Release Date"][-4:])
    genre = record["Major Genre"]
    return {
        "year": year - 100 if year > 2011 else year,  # two-digit-year misreads, as the importer
        "runtime_min": record["Running Time min"],
        "budget": record["Production Budget"],
        "imdb_rating": record["IMDB Rating"],
        "imdb_votes": record["IMDB Votes"],
        "rt_rating": record["Rotten Tomatoes Rating"],
        "mpaa": record["MPAA Rating"],
        "genres": [genre] if genre else [],
    }


def test_real_catalogue() -> None:
    path = next((p for p in CATALOGUES if p.exists()), None)
    if path is None:
        pytest.skip("no movies.json catalogue available")
    movies = [_from_catalogue(r) for r in json.loads(path.read_text(encoding="utf-8"))]
    matrix = build_feature_matrix(movies)
    assert matrix.values.shape == (3201, len(matrix.columns))
    assert len(matrix.columns) == 6 + 12 + 7  # numeric + Major Genre labels + MPAA labels
    assert not np.isnan(matrix.values).any()
    assert matrix.values.min() == 0.0
    assert matrix.values.max() == 1.0
    # design goal: exact duplicate rows (pairs at distance 0) are rare
    _, inverse, counts = np.unique(matrix.values, axis=0, return_inverse=True, return_counts=True)
    duplicated = counts[inverse.ravel()] > 1
    assert duplicated.mean() < 0.01
