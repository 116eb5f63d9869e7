"""Geometry for the server-drawn SVG charts: the neighbour map and the rating histogram."""

from __future__ import annotations

from typing import Any

MAP_WIDTH, MAP_HEIGHT, MAP_PAD = 360, 260, 22
HIST_WIDTH, HIST_HEIGHT, HIST_PAD, HIST_AXIS = 560, 220, 8, 24


def neighbour_map(explained_map: dict[str, Any]) -> dict[str, Any]:
    """Scale the projected points into the SVG box (equal scale on both axes, y up)."""
    points = explained_map["points"]
    target = explained_map["target"]
    xs = [p["x"] for p in points] + [target["x"]]
    ys = [p["y"] for p in points] + [target["y"]]
    span = max(max(xs) - min(xs), max(ys) - min(ys)) or 1.0
    scale = min(MAP_WIDTH, MAP_HEIGHT) - 2 * MAP_PAD
    # Centre the cloud in the box whatever its aspect ratio.
    mid_x, mid_y = (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2

    def place(x: float, y: float) -> tuple[float, float]:
        return (
            round(MAP_WIDTH / 2 + (x - mid_x) / span * scale, 1),
            round(MAP_HEIGHT / 2 - (y - mid_y) / span * scale, 1),
        )

    tx, ty = place(target["x"], target["y"])
    placed = []
    for point in points:
        px, py = place(point["x"], point["y"])
        placed.append({**point, "px": px, "py": py})
    # Neighbours last, so they are drawn on top of the other ratings.
    placed.sort(key=lambda p: p["is_neighbour"])
    return {"width": MAP_WIDTH, "height": MAP_HEIGHT, "points": placed, "tx": tx, "ty": ty}


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
