"""Request and response schemas: they validate input and generate the OpenAPI document."""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import Date, Float, Integer, List, Nested, Raw, String
from apiflask.validators import Length, OneOf, Range
from marshmallow import ValidationError, validates_schema

from recommender.services.catalogue import SORT_KEYS


class MovieQuery(Schema):
    q = String(validate=Length(max=200), metadata={"description": "Substring of the title"})
    genre = String(validate=Length(max=60))
    year_min = Integer(validate=Range(min=1800, max=2200))
    year_max = Integer(validate=Range(min=1800, max=2200))
    sort = String(load_default="title", validate=OneOf(SORT_KEYS))
    page = Integer(load_default=1, validate=Range(min=1, max=1_000_000))
    per_page = Integer(load_default=20, validate=Range(min=1, max=100))

    @validates_schema
    def _years_in_order(self, data: dict, **_: object) -> None:
        low, high = data.get("year_min"), data.get("year_max")
        if low is not None and high is not None and low > high:
            raise ValidationError(f"year_min ({low}) must not exceed year_max ({high})", "year_min")


class MovieOut(Schema):
    id = Integer(required=True)
    title = String(required=True)
    year = Integer(allow_none=True)
    release_date = Date(allow_none=True)
    genres = List(String())
    runtime_min = Integer(allow_none=True)
    mpaa = String(allow_none=True)
    director = String(allow_none=True)
    distributor = String(allow_none=True)
    creative_type = String(allow_none=True)
    source_material = String(allow_none=True)
    budget = Integer(allow_none=True)
    us_gross = Integer(allow_none=True)
    worldwide_gross = Integer(allow_none=True)
    us_dvd_sales = Integer(allow_none=True)
    imdb_rating = Float(allow_none=True)
    imdb_votes = Integer(allow_none=True)
    rt_rating = Integer(allow_none=True)


class MovieListItem(MovieOut):
    """A movie inside a page of results.

    A subclass because APIFlask 3.1 registers a schema class twice (and warns) when one route
    returns it directly and another nests it.
    """


class MoviePageOut(Schema):
    items = List(Nested(MovieListItem))
    page = Integer()
    per_page = Integer()
    total = Integer()


class ErrorDetail(Schema):
    code = String(required=True, metadata={"description": "Stable machine-readable code"})
    message = String(required=True)
    details = Raw(metadata={"description": "Where and why: fields, lines, ids"})


class ErrorOut(Schema):
    error = Nested(ErrorDetail, required=True)


class RecommendationQuery(Schema):
    limit = Integer(load_default=20, validate=Range(min=1, max=100))


class NeighbourOut(Schema):
    movie_id = Integer(required=True)
    title = String(required=True)
    rating = Float(required=True, metadata={"description": "Your rating of this neighbour"})
    distance = Float(required=True)
    weight = Float(required=True, metadata={"description": "Share of the prediction, sums to 1"})


class PredictionOut(Schema):
    movie = Nested(MovieListItem, required=True)
    predicted_rating = Float(required=True)
    source = String(required=True, validate=OneOf(["knn", "cold_start"]))
    neighbours = List(Nested(NeighbourOut), metadata={"description": "Empty for cold start"})


class RecommendationsOut(Schema):
    source = String(required=True, validate=OneOf(["knn", "cold_start"]))
    k = Integer(required=True)
    ratings_count = Integer(required=True)
    needed = Integer(required=True, metadata={"description": "Ratings still needed for knn"})
    items = List(Nested(PredictionOut))
