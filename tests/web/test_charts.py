"""The rings picture of a "why": near drawn near (radius proportional to distance), every
labelled neighbour named without overlaps, long titles wrapped and cut."""

from __future__ import annotations

import itertools
import math

import pytest

from recommender.web.charts import (
    LABEL_CHARS,
    LABEL_LINE,
    RINGS_LABELLED,
    RINGS_RADIUS,
    neighbour_rings,
)


def neighbours(distances: list[float], title: str = "Film") -> list[dict]:
    return [
        {"movie_id": i, "title": f"{title} {i}", "rating": 4.0, "distance": d}
        for i, d in enumerate(distances)
    ]


def radii(rings: dict) -> list[float]:
    return [math.hypot(p["px"] - rings["cx"], p["py"] - rings["cy"]) for p in rings["points"]]


@pytest.mark.parametrize("count", [1, 2, 3, 7, 8, 9, 30])
def test_each_dot_sits_at_its_distance_and_labels_do_not_overlap(count):
    distances = [0.4 + 0.13 * i for i in range(count)]
    rings = neighbour_rings(neighbours(distances, "The Empire Strikes Back, Episode"))
    # Radius over distance is one constant: the farthest on the outer ring, zero at the centre.
    for r, d in zip(radii(rings), distances, strict=True):
        assert r == pytest.approx(RINGS_RADIUS * d / distances[-1], abs=0.15)
    labels = rings["labels"]
    assert len(labels) == min(count, RINGS_LABELLED) and rings["unlabelled"] == max(
        count - RINGS_LABELLED, 0
    )
    assert {label["movie_id"] for label in labels} == set(range(min(count, RINGS_LABELLED)))
    for side in ("start", "end"):
        column = sorted(
            (label["lines"][0]["y"] - LABEL_LINE, label["lines"][-1]["y"])
            for label in labels
            if label["anchor"] == side
        )
        for (_, bottom), (top, _) in itertools.pairwise(column):
            assert bottom <= top, f"labels overlap in the {side} column"
        for top, bottom in column:
            assert top >= 0 and bottom <= rings["height"]
    # Right-hand labels start right of the circle, left-hand ones end left of it.
    for label in labels:
        offset = label["x"] - rings["cx"]
        assert abs(offset) > RINGS_RADIUS and (offset > 0) == (label["anchor"] == "start")
        assert len(label["lines"]) <= 2
        assert all(len(line["text"]) <= LABEL_CHARS for line in label["lines"])


def test_a_long_title_is_wrapped_on_two_lines_and_cut():
    rings = neighbour_rings(neighbours([1.0], "Star Wars: Episode V - The Empire Strikes Back"))
    lines = [line["text"] for line in rings["labels"][0]["lines"]]
    assert len(lines) == 2 and lines[0] == "Star Wars:" and lines[1].endswith("…")


def test_neighbours_at_distance_zero_sit_on_the_film():
    rings = neighbour_rings(neighbours([0.0, 0.0]))
    assert radii(rings) == [0.0, 0.0] and rings["rings"] == []
    assert neighbour_rings([])["points"] == []
