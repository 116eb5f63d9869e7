"""The rating scale: the one type every layer uses for the range and step of a rating."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray


@dataclass(frozen=True)
class RatingScale:
    """Ratings run from ``minimum`` to ``maximum`` in steps of ``step``."""

    minimum: float
    maximum: float
    step: float

    def problem(self, value: float) -> str | None:
        """Why ``value`` is not a rating on this scale, or None when it is one."""
        if not math.isfinite(value) or not self.minimum <= value <= self.maximum:
            return f"Rating must be from {self.minimum:g} to {self.maximum:g}, got {value:g}"
        steps = (value - self.minimum) / self.step
        # Decimal steps such as 0.1 land a float's noise away from a whole number of steps.
        if abs(steps - round(steps)) > 1e-9:
            return (
                f"Rating must be a multiple of {self.step:g} from {self.minimum:g}, got {value:g}"
            )
        return None

    def clip(self, values: ArrayLike) -> NDArray[np.float64]:
        """``values`` brought inside the scale's range (predictions never leave it)."""
        return np.clip(np.asarray(values, dtype=np.float64), self.minimum, self.maximum)

    def describe(self) -> dict[str, float]:
        return {"min": self.minimum, "max": self.maximum, "step": self.step}
