"""Geometry of the evaluation's curve charts (a metric by k), drawn as SVG by the template like
the other charts: a line over the k values (evenly spaced: they are usually 5, 10, 20, 40),
the best k marked, a baseline as a dotted line."""

from __future__ import annotations

from typing import Any

WIDTH, HEIGHT = 360, 200
LEFT, RIGHT, TOP, BOTTOM = 48, 14, 14, 34
# The first and last k sit this far inside the axes, so their dots and labels stay clear of them.
INSET = 18


def curve(
    points: list[tuple[int, float]],
    *,
    best_k: int | None = None,
    baseline: float | None = None,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> dict[str, Any] | None:
    """Place ``points`` (k, value) in the box; None when there is nothing to draw."""
    points = [(k, v) for k, v in points if v is not None and v == v]  # NaN != NaN
    if not points:
        return None
    values = [v for _, v in points] + ([baseline] if baseline is not None else [])
    low, high = min(values), max(values)
    pad = (high - low) * 0.1 or abs(high) * 0.05 or 0.05
    low, high = low - pad, high + pad
    plot_w, plot_h = width - LEFT - RIGHT - 2 * INSET, height - TOP - BOTTOM
    step = plot_w / max(len(points) - 1, 1)

    def y_of(value: float) -> float:
        return round(TOP + (high - value) / (high - low) * plot_h, 1)

    placed = [
        {
            "k": k,
            "value": v,
            "x": round(LEFT + INSET + (i * step if len(points) > 1 else plot_w / 2), 1),
            "y": y_of(v),
        }
        for i, (k, v) in enumerate(points)
    ]
    best = next((p for p in placed if p["k"] == best_k), None)
    ticks = [{"value": v, "y": y_of(v)} for v in (low + pad, (low + high) / 2, high - pad)]
    return {
        "width": width,
        "height": height,
        "left": LEFT,
        "right": width - RIGHT,
        "top": TOP,
        "axis_y": height - BOTTOM,
        "points": placed,
        "path": " ".join(f"{p['x']},{p['y']}" for p in placed),
        "best": best,
        "baseline_y": None if baseline is None else y_of(baseline),
        "ticks": ticks,
    }
