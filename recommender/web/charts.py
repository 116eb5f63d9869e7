"""Geometry for the server-drawn SVG charts: the neighbour rings of a "why" and the rating
histogram."""

from __future__ import annotations

import math
import textwrap
from typing import Any

HIST_WIDTH, HIST_HEIGHT, HIST_PAD, HIST_AXIS = 560, 220, 8, 24

# The neighbour rings: the film in the centre, each rated film at its distance. Sized for a
# phone (drawn about 1:1 at 390 px): the labels' columns hold two lines of LABEL_CHARS each.
RINGS_WIDTH, RINGS_RADIUS, RINGS_PAD = 380, 62, 14
LABEL_CHARS, LABEL_LINE, LABEL_GAP = 15, 14, 5
# The most neighbours named on the picture (nearest first); more are drawn as small dots,
# named in their tooltip and in the details table.
RINGS_LABELLED = 8


def _wrap(title: str) -> list[str]:
    """A title as at most two lines of LABEL_CHARS, the second cut with an ellipsis."""
    lines = textwrap.wrap(title, LABEL_CHARS, break_long_words=True) or [""]
    if len(lines) > 2:
        lines = [lines[0], lines[1][: LABEL_CHARS - 1] + "…"]
    return lines


def _spread(wanted: list[float], heights: list[float], top: float, bottom: float) -> list[float]:
    """Tops for labels of ``heights`` as near their ``wanted`` tops as they can be without
    overlapping, inside [top, bottom] (one pass down pushes apart, one pass up pulls back
    what overflowed; the labels keep their order)."""
    tops = []
    floor = top
    for want, height in zip(wanted, heights, strict=True):
        tops.append(max(want, floor))
        floor = tops[-1] + height + LABEL_GAP
    ceiling = bottom
    for i in range(len(tops) - 1, -1, -1):
        tops[i] = min(tops[i], ceiling - heights[i])
        ceiling = tops[i] - LABEL_GAP
    return [round(t, 1) for t in tops]


def neighbour_rings(neighbours: list[dict[str, Any]]) -> dict[str, Any]:
    """Geometry of the rings picture: the film at the centre, each neighbour (nearest first)
    at a radius proportional to its distance (the farthest on the outer ring), so near is
    drawn near; the direction carries no meaning and only spreads the dots out.

    The RINGS_LABELLED nearest get a label in a column beside the circle (right, left,
    right, ...), moved apart so none overlaps another and joined to its dot by a leader line.
    """
    labelled = neighbours[:RINGS_LABELLED]
    sides = {"right": [], "left": []}
    for i in range(len(labelled)):
        sides["right" if i % 2 == 0 else "left"].append(i)
    heights = [len(_wrap(n["title"])) * LABEL_LINE for n in labelled]
    column = max((sum(heights[i] + LABEL_GAP for i in idx) for idx in sides.values()), default=0)
    height = round(max(2 * RINGS_RADIUS + 2 * RINGS_PAD + 8, column + 2 * RINGS_PAD))
    cx, cy = RINGS_WIDTH / 2, height / 2
    farthest = max((float(n["distance"]) for n in neighbours), default=0.0)

    def radius(distance: float) -> float:
        return RINGS_RADIUS * distance / farthest if farthest > 0 else 0.0

    # Angles: each side's labelled dots fan from top to bottom in rank order (so leader lines
    # do not cross); the unlabelled rest fill the circle evenly, offset from those.
    angle = [0.0] * len(neighbours)
    for side, idx in sides.items():
        for j, i in enumerate(idx):
            t = -60 + 120 * (j + 0.5) / len(idx)  # degrees from the horizontal, y down
            angle[i] = math.radians(t if side == "right" else 180 - t)
    rest = range(len(labelled), len(neighbours))
    for j, i in enumerate(rest):
        angle[i] = math.radians(90 + 360 * (j + 0.5) / len(rest))
    points = []
    for i, n in enumerate(neighbours):
        r = radius(float(n["distance"]))
        points.append(
            {
                **n,
                "px": round(cx + r * math.cos(angle[i]), 1),
                "py": round(cy + r * math.sin(angle[i]), 1),
                "labelled": i < len(labelled),
            }
        )
    labels = []
    for side, idx in sides.items():
        wanted = [points[i]["py"] - heights[i] / 2 for i in idx]
        tops = _spread(wanted, [heights[i] for i in idx], RINGS_PAD / 2, height - RINGS_PAD / 2)
        edge = RINGS_RADIUS + 14
        x = cx + edge if side == "right" else cx - edge
        for i, label_top in zip(idx, tops, strict=True):
            lines = _wrap(neighbours[i]["title"])
            anchor_y = round(label_top + heights[i] / 2, 1)
            labels.append(
                {
                    "movie_id": neighbours[i]["movie_id"],
                    "x": round(x, 1),
                    "anchor": "start" if side == "right" else "end",
                    "lines": [
                        {"text": line, "y": round(label_top + (j + 0.8) * LABEL_LINE, 1)}
                        for j, line in enumerate(lines)
                    ],
                    # The leader line runs from the dot to just short of the label's edge.
                    "x1": points[i]["px"],
                    "y1": points[i]["py"],
                    "x2": round(x - 4 if side == "right" else x + 4, 1),
                    "y2": anchor_y,
                }
            )
    rings = [round(RINGS_RADIUS * f, 1) for f in (0.5, 1.0)] if farthest > 0 else []
    return {
        "width": RINGS_WIDTH,
        "height": height,
        "cx": cx,
        "cy": cy,
        "rings": rings,
        "points": points,
        "labels": labels,
        "unlabelled": len(neighbours) - len(labelled),
    }


def histogram(
    bins: list[dict[str, Any]], width: int = HIST_WIDTH, height: int = HIST_HEIGHT
) -> dict[str, Any]:
    """Bars of the rating histogram, the tallest filling the plot height. A smaller box keeps
    the labels legible where the chart is drawn small (the film page, phones)."""
    tallest = max((b["count"] for b in bins), default=0) or 1
    slot = (width - 2 * HIST_PAD) / max(len(bins), 1)
    plot_height = height - HIST_AXIS - HIST_PAD - 14
    bars = []
    for i, b in enumerate(bins):
        bar_height = round(b["count"] / tallest * plot_height, 1)
        bars.append(
            {
                **b,
                "x": round(HIST_PAD + i * slot + slot * 0.1, 1),
                "width": round(slot * 0.8, 1),
                "y": round(height - HIST_AXIS - bar_height, 1),
                "height": bar_height,
                "label_x": round(HIST_PAD + (i + 0.5) * slot, 1),
            }
        )
    axis_y = height - HIST_AXIS
    return {"width": width, "height": height, "axis_y": axis_y, "bars": bars}
