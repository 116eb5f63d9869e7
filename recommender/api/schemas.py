"""Request and response schemas: they validate input and generate the OpenAPI document."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from apiflask import Schema
from apiflask.fields import (
    Boolean,
    DateTime,
    Dict,
    File,
    Float,
    Integer,
    List,
    Nested,
    Raw,
    String,
)
from apiflask.validators import Length, OneOf, Range
from marshmallow import ValidationError, validates_schema

from recommender.engine.scale import RatingScale
from recommender.models import ImportStatus
from recommender.services.accounts import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    USERNAME_PATTERN,
)
from recommender.services.catalogue import SORT_KEYS
from recommender.services.recommendations import ORDERS

# The document's form of Text's rule, so clients and fuzzers know it (ECMA-262 and Python).
NO_NUL_PATTERN = "^[^\\u0000]*$"


class Text(String):
    """A string without NUL characters: PostgreSQL refuses them in text (a 500, not a 422), and
    SQLite's LIKE stops at one (so ``q=%00`` would match every title)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A field with a pattern of its own (a username) states a stricter rule already.
        self.metadata = {"pattern": NO_NUL_PATTERN, **self.metadata}

    def _deserialize(self, value: object, attr: str | None, data: object, **kwargs: object):
        text = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise ValidationError("Must not contain NUL characters.")
        return text


class MovieFilterQuery(Schema):
    """The movie filters that the catalogue search and the recommendations share."""

    genre = Text(validate=Length(max=60), metadata={"description": "A genre name (any case)"})
    year_min = Integer(
        validate=Range(min=1800, max=2200),
        metadata={"description": "Earliest year; must not exceed year_max (else 422)"},
    )
    year_max = Integer(
        validate=Range(min=1800, max=2200),
        metadata={"description": "Latest year; must not be below year_min (else 422)"},
    )

    @validates_schema
    def _years_in_order(self, data: dict, **_: object) -> None:
        low, high = data.get("year_min"), data.get("year_max")
        if low is not None and high is not None and low > high:
            raise ValidationError(f"year_min ({low}) must not exceed year_max ({high})", "year_min")


class MovieQuery(MovieFilterQuery):
    q = Text(
        validate=Length(max=200),
        metadata={
            "description": "Words of the title or its year, in any order, accents and case"
            " aside; each word matches the start of a title word"
        },
    )
    sort = String(
        validate=OneOf(SORT_KEYS),
        metadata={
            "description": "Order of the results. Default: relevance when q is given (best"
            " match first, then most rated), title otherwise"
        },
    )
    page = Integer(load_default=1, validate=Range(min=1, max=1_000_000))
    per_page = Integer(load_default=20, validate=Range(min=1, max=100))


MAX_EXCLUDED = 500


class MovieIdList(String):
    """Movie ids as one comma-separated parameter (``exclude=3,17,42``), loaded as a list."""

    def _deserialize(self, value: object, attr: str | None, data: object, **kwargs: object):
        text = super()._deserialize(value, attr, data, **kwargs)
        parts = [part.strip() for part in text.split(",") if part.strip()]
        if len(parts) > MAX_EXCLUDED:
            raise ValidationError(f"At most {MAX_EXCLUDED} movie ids.")
        if not all(part.isascii() and part.isdigit() and len(part) <= 18 for part in parts):
            raise ValidationError("Must be movie ids (positive integers) separated by commas.")
        return [int(part) for part in parts]


class MovieOut(Schema):
    id = Integer(required=True)
    title = String(required=True)
    year = Integer(allow_none=True)
    # movie_to_dict gives the ISO text already; a Date field would call .isoformat() on it.
    release_date = String(allow_none=True, metadata={"format": "date"})
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


class CommunityBin(Schema):
    rating = Float(required=True, metadata={"description": "A value of the rating scale"})
    count = Integer(required=True, metadata={"description": "Ratings of the movie at that value"})


class MovieDetailOut(MovieOut):
    """One movie with how the site's users rated it."""

    ratings_count = Integer(required=True, metadata={"description": "Ratings of this movie"})
    ratings_mean = Float(
        required=True, allow_none=True, metadata={"description": "Their mean; null when unrated"}
    )
    histogram = List(
        Nested(CommunityBin),
        required=True,
        metadata={"description": "One bin per step of the rating scale, empty ones included"},
    )


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


class RecommendationQuery(MovieFilterQuery):
    order = String(
        load_default="match",
        validate=OneOf(ORDERS),
        metadata={"description": "match: by the ranking score; rating: by predicted rating"},
    )
    exclude = MovieIdList(
        load_default=list,
        metadata={
            "description": f"Movie ids to leave out, comma-separated (at most {MAX_EXCLUDED})",
            "pattern": r"^[0-9, ]*$",
        },
    )
    page = Integer(load_default=1, validate=Range(min=1, max=1_000_000))
    per_page = Integer(validate=Range(min=1, max=100), metadata={"description": "Default 20"})
    limit = Integer(
        load_default=20,
        validate=Range(min=1, max=100),
        metadata={"description": "The older name of per_page; per_page wins when both are given"},
    )


class NeighbourOut(Schema):
    movie_id = Integer(required=True)
    title = String(required=True)
    rating = Float(required=True, metadata={"description": "Your rating of this neighbour"})
    distance = Float(required=True)
    weight = Float(
        required=True,
        metadata={
            "description": "Share of the prediction's correction to the film's baseline: sums "
            "to 1 without shrinkage, to less with it (the rest stays with the baseline)"
        },
    )


class PredictionOut(Schema):
    movie = Nested(MovieListItem, required=True)
    score = Float(
        required=True,
        metadata={
            "description": "Ranking score: how strongly your rated movies vote for this one "
            "(the list is ordered by it; comparable within one list only)"
        },
    )
    predicted_rating = Float(required=True)
    source = String(required=True, validate=OneOf(["knn", "cold_start"]))
    neighbours = List(Nested(NeighbourOut), metadata={"description": "Empty for cold start"})


class RecommendationsOut(Schema):
    source = String(required=True, validate=OneOf(["knn", "cold_start"]))
    k = Integer(required=True)
    ratings_count = Integer(required=True)
    needed = Integer(required=True, metadata={"description": "Ratings still needed for knn"})
    page = Integer(required=True)
    per_page = Integer(required=True)
    total = Integer(required=True, metadata={"description": "Unrated movies that pass the filters"})
    items = List(Nested(PredictionOut))


class ExplainedNeighbourOut(NeighbourOut):
    share = Float(
        required=True,
        metadata={"description": "Share of the neighbours' say: sums to 1 over the neighbours"},
    )


class RatingCountOut(Schema):
    rating = Float(required=True)
    count = Integer(required=True)


class PredictionDetailOut(PredictionOut):
    k = Integer(required=True)
    ratings_count = Integer(required=True)
    needed = Integer(required=True)
    neighbours = List(
        Nested(ExplainedNeighbourOut), metadata={"description": "Empty for cold start"}
    )
    because = List(
        Nested(ExplainedNeighbourOut),
        required=True,
        metadata={
            "description": "The 3-5 neighbours with the largest shares, largest first (fewer "
            "when k is smaller; empty for cold start)"
        },
    )
    rating_histogram = List(
        Nested(RatingCountOut),
        required=True,
        metadata={
            "description": "How many neighbours you rated at each value of the scale, lowest first"
        },
    )
    baseline_share = Float(
        required=True,
        metadata={
            "description": "Part of the prediction's correction left with the film's baseline "
            "(1 - the sum of the weights; 1 for cold start)"
        },
    )


class JSONNumber(Float):
    """A JSON number: unlike ``Float`` it refuses numeric strings such as ``"4.5"``."""

    def _deserialize(self, value: object, attr: str | None, data: object, **kwargs: object):
        if isinstance(value, str):
            raise self.make_error("invalid", input=value)
        return super()._deserialize(value, attr, data, **kwargs)


class UTCDateTime(DateTime):
    """A timestamp that always carries its offset: SQLite hands back naive UTC datetimes."""

    def _serialize(self, value: dt.datetime | None, attr: str | None, obj: object, **kwargs):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return super()._serialize(value, attr, obj, **kwargs)


class CredentialsIn(Schema):
    username = Text(required=True, validate=Length(min=1, max=200))
    password = Text(required=True, validate=Length(min=1, max=1000))


class RegistrationIn(Schema):
    # The rules live in services.accounts (the CLI and the sign-up page use them too, and its
    # 422 names the rule); the document states them so clients and fuzzers know them.
    username = Text(required=True, metadata={"pattern": USERNAME_PATTERN.pattern})
    password = Text(
        required=True,
        metadata={"minLength": MIN_PASSWORD_LENGTH, "maxLength": MAX_PASSWORD_LENGTH},
    )


class PasswordChangeIn(Schema):
    current_password = Text(required=True, validate=Length(min=1, max=1000))
    new_password = Text(
        required=True,
        metadata={"minLength": MIN_PASSWORD_LENGTH, "maxLength": MAX_PASSWORD_LENGTH},
    )


class RevokeTokensQuery(Schema):
    all = Boolean(
        load_default=False,
        metadata={
            "description": "Sign out everywhere: revoke every token of the account and end "
            "every browser session, not only this token"
        },
    )


class UserOut(Schema):
    id = Integer(required=True)
    username = String(required=True)
    is_admin = Boolean(required=True)
    created_at = UTCDateTime(required=True)


class TokenOut(Schema):
    token = String(required=True, metadata={"description": "Send as `Authorization: Bearer ...`"})
    expires_at = UTCDateTime(required=True)


class PageQuery(Schema):
    page = Integer(load_default=1, validate=Range(min=1, max=1_000_000))
    per_page = Integer(load_default=20, validate=Range(min=1, max=100))


class RatingIn(Schema):
    rating = JSONNumber(
        required=True,
        allow_nan=False,
        metadata={"description": "On the configured scale (default 0.5 to 5.0 in steps of 0.5)"},
    )


class PagedOut(Schema):
    """The paging fields every list of a user's own films carries beside its ``items``."""

    page = Integer(required=True)
    per_page = Integer(required=True)
    total = Integer(required=True)


class RatingOut(Schema):
    movie = Nested(MovieListItem, required=True)
    rating = Float(required=True)
    rated_at = String(required=True, metadata={"format": "date-time"})


class RatingListItem(RatingOut):
    """A rating inside a page (a subclass for the reason given on :class:`MovieListItem`)."""


class RatingPageOut(PagedOut):
    items = List(Nested(RatingListItem), required=True)


class HiddenOut(Schema):
    movie = Nested(MovieListItem, required=True)
    created_at = String(required=True, metadata={"format": "date-time"})


class HiddenListItem(HiddenOut):
    """An entry inside a page (a subclass for the reason given on :class:`MovieListItem`)."""


class HiddenPageOut(PagedOut):
    items = List(Nested(HiddenListItem), required=True)


class WatchlistOut(Schema):
    movie = Nested(MovieListItem, required=True)
    added_at = String(required=True, metadata={"format": "date-time"})


class WatchlistListItem(WatchlistOut):
    """An entry inside a page (a subclass for the reason given on :class:`MovieListItem`)."""


class WatchlistPageOut(PagedOut):
    items = List(Nested(WatchlistListItem), required=True)


class ImportIn(Schema):
    kind = String(required=True, validate=OneOf(["catalogue", "movielens"]))
    file = File(
        required=True,
        metadata={"description": "A catalogue as .json or .csv; a MovieLens dataset as .zip"},
    )


class ImportReportOut(Schema):
    run_id = Integer(required=True)
    kind = String(required=True)
    filename = String(required=True)
    status = String(required=True)
    # Catalogue imports:
    inserted = Integer()
    updated = Integer()
    unchanged = Integer()
    skipped = List(Dict(), metadata={"description": "{location, reason} of each skipped record"})
    corrected = List(Dict(), metadata={"description": "{location, message} of each correction"})
    repaired = List(
        Dict(),
        metadata={"description": "{location, field, before, after} of each text repaired"},
    )
    genres_created = Integer()
    # MovieLens imports:
    layout = String(metadata={"description": "100k, 1m, latest or recbole"})
    dataset = String(metadata={"description": "The users' source, e.g. ml-100k"})
    counts = Dict(
        keys=String(),
        values=Integer(),
        metadata={"description": "Movies matched/inserted, users and ratings inserted/updated"},
    )
    matched_by = Dict(
        keys=String(),
        values=Integer(),
        metadata={"description": "Movies matched by each rule: exact, alternative_title, ..."},
    )
    possible_duplicates = List(
        Dict(),
        metadata={
            "description": "Movies inserted beside rows they may be (not guessed): "
            "{location, message, movie_id, duplicates: [{id, title, year}]}"
        },
    )


class ImportRunOut(Schema):
    id = Integer(required=True)
    kind = String(required=True)
    filename = String(required=True)
    status = String(required=True, validate=OneOf([status.value for status in ImportStatus]))
    counts = Dict(keys=String(), values=Integer())
    errors = List(Dict(), metadata={"description": "{location, message} of a failed run"})
    notes = List(Dict(), metadata={"description": "What a successful run skipped or corrected"})
    started_at = UTCDateTime(required=True)
    finished_at = UTCDateTime(allow_none=True)
    admin_id = Integer(allow_none=True)


class HistogramBin(Schema):
    rating = Float(required=True)
    count = Integer(required=True)


class StatsOut(Schema):
    users = Integer(required=True)
    movies = Integer(required=True)
    ratings = Integer(required=True)
    rating_histogram = List(
        Nested(HistogramBin),
        required=True,
        metadata={"description": "One bin per step of the rating scale, empty ones included"},
    )


class MergeIn(Schema):
    drop_id = Integer(
        required=True,
        strict=True,
        # The database's integer range: a larger id is no movie, and PostgreSQL would refuse it.
        validate=Range(min=1, max=2**31 - 1),
        metadata={"description": "The duplicate to merge into the movie of the path, then delete"},
    )


class MergeOut(Schema):
    keep_id = Integer(required=True)
    drop_id = Integer(required=True)
    title = String(required=True, metadata={"description": "The kept movie's title"})
    ratings_moved = Integer(
        required=True, metadata={"description": "Ratings of drop_id moved (no rating of keep_id)"}
    )
    ratings_kept = Integer(
        required=True, metadata={"description": "Users who rated both: keep_id's rating was later"}
    )
    ratings_replaced = Integer(
        required=True, metadata={"description": "Users who rated both: drop_id's rating was later"}
    )
    external_ids_moved = Integer(
        required=True, metadata={"description": "Dataset ids re-pointed to keep_id"}
    )
    genres_added = List(String(), required=True)
    attributes_filled = List(
        String(), required=True, metadata={"description": "Empty attributes of keep_id filled"}
    )


def document_rating_scale(spec: dict[str, Any], scale: RatingScale) -> dict[str, Any]:
    """State the app's rating scale on ``RatingIn.rating``: it is a setting, so the schema class
    cannot carry it. ``multipleOf`` only when it says the same as the scale (its steps start at
    0, the scale's at its minimum)."""
    rating = spec["components"]["schemas"]["RatingIn"]["properties"]["rating"]
    rating["minimum"], rating["maximum"] = scale.minimum, scale.maximum
    low, step = Decimal(str(scale.minimum)), Decimal(str(scale.step))
    if low % step == 0:
        rating["multipleOf"] = scale.step
    rating["description"] = (
        f"From {scale.minimum:g} to {scale.maximum:g} in steps of {scale.step:g} "
        "(the RATING_MIN, RATING_MAX and RATING_STEP settings)"
    )
    return spec


def document_status(
    spec: dict[str, Any], status: int, description: str, where: set[tuple[str, str]] | None = None
) -> dict[str, Any]:
    """Add a ``status`` answer with the error body to the operations ``where`` ((method, path)
    pairs, e.g. ("post", "/api/v1/auth/register")), or to every operation."""
    response = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
    }
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            if where is None or (method, path) in where:
                operation["responses"].setdefault(str(status), response)
    return spec
