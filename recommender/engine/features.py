"""Movie attributes -> a normalised float64 feature matrix for the KNN engine.

Each movie is a plain mapping (as the service layer loads it); a :class:`FeatureSpec` says which
keys become features and how. Numeric columns are transformed (``"linear"`` or ``"log"`` =
``log1p``), median-imputed, min-max scaled to [0, 1] over the catalogue and multiplied by their
weight. Categorical columns become one-hot (or multi-hot, for list-valued keys such as
``"genres"``) columns over the labels present, sorted, each multiplied by the column's weight.

A missing category is encoded as all zeros rather than as an ``"unknown"`` column: a missing
value is the absence of information, not a shared property, and an ``unknown`` column would pull
together unrelated movies merely because their data are incomplete (605 of the 3,201 sample
films have no MPAA rating). All zeros leaves such a movie equidistant from every label.
"""

from __future__ import annotations

import math
import numbers
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Literal

import numpy as np

Transform = Literal["linear", "log"]
TRANSFORMS: tuple[str, ...] = ("linear", "log")


def _check_common(kind: str, name: object, weight: object) -> float:
    if not isinstance(name, str) or not name:
        raise ValueError(f"{kind} column name must be a non-empty string, got {name!r}")
    if isinstance(weight, bool) or not isinstance(weight, numbers.Real):
        raise ValueError(f"{kind} column {name!r}: weight must be a number, got {weight!r}")
    if not math.isfinite(weight) or weight < 0:
        raise ValueError(f"{kind} column {name!r}: weight must be finite and >= 0, got {weight!r}")
    return float(weight)


@dataclass(frozen=True)
class NumericColumn:
    """A numeric movie key: ``name`` is the dict key, ``transform`` is applied before scaling."""

    name: str
    transform: Transform = "linear"
    weight: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "weight", _check_common("numeric", self.name, self.weight))
        if self.transform not in TRANSFORMS:
            raise ValueError(
                f"numeric column {self.name!r}: unknown transform {self.transform!r} "
                f"(expected one of {', '.join(TRANSFORMS)})"
            )


@dataclass(frozen=True)
class CategoricalColumn:
    """A label-valued movie key; ``multi=True`` when the value is a list of labels."""

    name: str
    weight: float = 1.0
    multi: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "weight", _check_common("categorical", self.name, self.weight))
        if not isinstance(self.multi, bool):
            raise ValueError(f"categorical column {self.name!r}: multi must be a bool")


Column = NumericColumn | CategoricalColumn
_ENTRY_KEYS = {"numeric": {"transform", "weight"}, "categorical": {"weight", "multi"}}


@dataclass(frozen=True)
class FeatureSpec:
    """Which movie keys become features, in order. Weight-0 columns are dropped when building."""

    columns: tuple[Column, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", tuple(self.columns))
        counts = Counter(column.name for column in self.columns)
        duplicates = sorted(name for name, count in counts.items() if count > 1)
        if duplicates:
            raise ValueError(f"feature spec: duplicate column(s) {duplicates}")
        if not any(column.weight > 0 for column in self.columns):
            raise ValueError("feature spec: needs at least one column with a weight > 0")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSpec:
        """Build a spec from configuration, e.g. parsed JSON.

        ``{"numeric": {"year": {"transform": "linear", "weight": 1.0}, ...},
        "categorical": {"genres": {"multi": true}, "mpaa": {}}}``. Omitted keys take the
        dataclass defaults. Numeric columns come first, then categorical ones, each group in
        mapping order. Raises ``ValueError`` naming the offending entry.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"feature spec must be a mapping, got {type(data).__name__}")
        unknown = sorted(set(data) - set(_ENTRY_KEYS), key=str)
        if unknown:
            raise ValueError(f"feature spec: unknown section(s) {unknown}")
        columns: list[Column] = []
        for kind, make in (("numeric", NumericColumn), ("categorical", CategoricalColumn)):
            section = data.get(kind, {})
            if not isinstance(section, Mapping):
                raise ValueError(f"feature spec: {kind!r} must map column names to entries")
            for name, entry in section.items():
                if not isinstance(entry, Mapping):
                    raise ValueError(f"{kind} column {name!r}: entry must be a mapping")
                extra = sorted(set(entry) - _ENTRY_KEYS[kind], key=str)
                if extra:
                    raise ValueError(f"{kind} column {name!r}: unknown key(s) {extra}")
                columns.append(make(name, **entry))
        return cls(tuple(columns))

    def to_dict(self) -> dict[str, dict[str, dict[str, Any]]]:
        """The JSON-serialisable inverse of :meth:`from_dict` (numeric columns listed first)."""
        out: dict[str, dict[str, dict[str, Any]]] = {"numeric": {}, "categorical": {}}
        for c in self.columns:
            if isinstance(c, NumericColumn):
                out["numeric"][c.name] = {"transform": c.transform, "weight": c.weight}
            else:
                out["categorical"][c.name] = {"weight": c.weight, "multi": c.multi}
        return out


DEFAULT_SPEC = FeatureSpec(
    (
        NumericColumn("year"),
        NumericColumn("runtime_min"),
        NumericColumn("budget", "log"),
        NumericColumn("imdb_rating"),
        NumericColumn("imdb_votes", "log"),
        NumericColumn("rt_rating"),
        CategoricalColumn("genres", multi=True),
        CategoricalColumn("mpaa"),
    )
)


@dataclass(frozen=True, eq=False)
class FeatureMatrix:
    """The catalogue in feature space.

    Attributes
    ----------
    values : np.ndarray, shape (n_movies, n_features), float64, read-only
        Row ``i`` is ``movies[i]``; every entry lies in ``[0, weight of its column]``.
    columns : tuple of str, length n_features
        ``"year"`` for a numeric column, ``"<key>=<label>"`` (``"genres=Drama"``, ``"mpaa=R"``)
        for a categorical one.
    imputed : Mapping[str, float]
        Per numeric column, the value given to missing entries, in *original* units. The median
        is taken over the transformed known values; with an odd count (or equal middle values)
        that is a known value itself, recorded exactly; otherwise, for ``"log"``, it is
        ``expm1`` of the mean of the two middle ``log1p`` values (e.g. 0 and 99 give 9, not
        49.5). NaN when the column has no known value at all; its entries are then all 0.0.
    missing_counts : Mapping[str, int]
        Per spec column (weight > 0), how many movies lack a value (None, no key, NaN, ``""``,
        empty label list).
    """

    values: np.ndarray
    columns: tuple[str, ...]
    imputed: Mapping[str, float] = field(default_factory=dict)
    missing_counts: Mapping[str, int] = field(default_factory=dict)


def _numeric_raw(movies: Sequence[Mapping[str, Any]], name: str) -> np.ndarray:
    """Shape (n_movies,) float64, NaN where missing; ValueError naming column and row."""
    out = np.empty(len(movies), dtype=np.float64)
    for i, movie in enumerate(movies):
        value = movie.get(name)
        if value is None:
            out[i] = np.nan
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Real | Decimal):
            raise ValueError(f"column {name!r}, row {i}: expected a number, got {value!r}")
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if math.isinf(number):
            raise ValueError(f"column {name!r}, row {i}: value {value!r} is not finite")
        out[i] = number
    return out


def _numeric_feature(
    movies: Sequence[Mapping[str, Any]], column: NumericColumn
) -> tuple[np.ndarray, float, int]:
    """Scaled column of shape (n_movies,) in [0, 1], imputed value (original units), n missing."""
    raw = _numeric_raw(movies, column.name)
    missing = np.isnan(raw)
    n_missing = int(missing.sum())
    known_raw = np.sort(raw[~missing])
    if known_raw.size == 0:
        return np.zeros_like(raw), math.nan, n_missing
    if column.transform == "log":
        negative = np.flatnonzero(raw < 0)
        if negative.size:
            i = int(negative[0])
            raise ValueError(f"column {column.name!r}, row {i}: log transform of negative {raw[i]}")
        x, known = np.log1p(raw), np.log1p(known_raw)  # monotone: `known` stays sorted
    else:
        x, known = raw, known_raw
    mid = known.size // 2
    if known.size % 2 or known_raw[mid - 1] == known_raw[mid]:  # exact in original units
        median, imputed = float(known[mid]), float(known_raw[mid])
    else:  # halve before adding: near-max values cannot overflow
        median = float(known[mid - 1]) / 2 + float(known[mid]) / 2
        imputed = math.expm1(median) if column.transform == "log" else median
    x[missing] = median
    lo, hi = float(known[0]), float(known[-1])
    span = hi - lo
    if span > 0 and math.isfinite(span):
        x = (x - lo) / span
    elif span > 0:  # |lo| and |hi| near float max: halve everything so the span fits
        x = (x / 2 - lo / 2) / (hi / 2 - lo / 2)
    else:
        x = np.zeros_like(x)
    return x, imputed, n_missing


def _labels(value: Any, column: CategoricalColumn, row: int) -> list[str]:
    if value is None:
        return []
    items = value if column.multi else [value]
    if column.multi and not isinstance(value, list | tuple | set | frozenset):
        raise ValueError(f"column {column.name!r}, row {row}: expected a list of labels")
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"column {column.name!r}, row {row}: label {item!r} is not a string")
    return [item for item in items if item]


def _categorical_feature(
    movies: Sequence[Mapping[str, Any]], column: CategoricalColumn
) -> tuple[np.ndarray, list[str], int]:
    """(n_movies, n_labels) 0/1 block over the sorted labels present, labels, n missing."""
    per_row = [_labels(movie.get(column.name), column, i) for i, movie in enumerate(movies)]
    labels = sorted({label for row in per_row for label in row})
    index = {label: j for j, label in enumerate(labels)}
    rows = [i for i, row in enumerate(per_row) for _ in row]
    cols = [index[label] for row in per_row for label in row]
    block = np.zeros((len(movies), len(labels)), dtype=np.float64)
    block[rows, cols] = 1.0
    return block, labels, sum(1 for row in per_row if not row)


def build_feature_matrix(
    movies: Sequence[Mapping[str, Any]], spec: FeatureSpec = DEFAULT_SPEC
) -> FeatureMatrix:
    """Encode ``movies`` as a normalised feature matrix.

    Parameters
    ----------
    movies : sequence of mappings, length n_movies
        Movie attributes keyed by column name; a key may be absent or None.
    spec : FeatureSpec
        Columns to encode, in order; columns of weight 0 are skipped entirely (not even read).

    Returns
    -------
    FeatureMatrix
        ``values`` of shape (n_movies, n_features); the column set and order depend only on
        the spec and on the set of labels present, never on the order of ``movies``.

    Raises
    ------
    ValueError
        If ``movies`` is empty (min-max scaling over no movies is undefined), or a value is
        malformed: non-numeric or infinite in a numeric column, negative under ``"log"``, a
        non-string label; the message names the column and the row index.
    """
    if len(movies) == 0:
        raise ValueError("cannot build a feature matrix from an empty movie list")
    blocks: list[np.ndarray] = []
    names: list[str] = []
    imputed: dict[str, float] = {}
    missing_counts: dict[str, int] = {}
    for column in spec.columns:
        if column.weight == 0:
            continue
        if isinstance(column, NumericColumn):
            x, imputed[column.name], missing_counts[column.name] = _numeric_feature(movies, column)
            blocks.append(x[:, None])
            names.append(column.name)
        else:
            block, labels, missing_counts[column.name] = _categorical_feature(movies, column)
            blocks.append(block)
            names.extend(f"{column.name}={label}" for label in labels)
        if column.weight != 1.0:
            blocks[-1] *= column.weight
    collisions = sorted(name for name, count in Counter(names).items() if count > 1)
    if collisions:
        raise ValueError(f"feature columns collide: {collisions}")
    values = np.hstack(blocks)  # a new array; the spec guarantees at least one block
    values.flags.writeable = False
    return FeatureMatrix(
        values=values,
        columns=tuple(names),
        imputed=MappingProxyType(imputed),
        missing_counts=MappingProxyType(missing_counts),
    )
