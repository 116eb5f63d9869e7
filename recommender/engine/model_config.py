"""The model the service retrains and the evaluation scores: learned item factors and the
predictor options that go with them (numpy only).

One configuration serves both, so that what ``recommender evaluate`` measures is what
``recommender retrain`` builds (``services/feature_store.py`` holds it in its FactorPolicy).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from recommender.engine.factors import FactorSettings
from recommender.engine.predictor import ITEM_DAMPING, PredictorOptions


@dataclass(frozen=True)
class ModelConfig:
    """Item features and predictor options; defaults are the configuration chosen on ML-100K
    by validation inside the training data (see ``bench/accuracy.py``)."""

    factors: FactorSettings = field(
        default_factory=lambda: FactorSettings(
            n_factors=50, reg=0.1, n_iterations=10, implicit_factors=50, implicit_share=0.7
        )
    )
    bias_weight: float = 1.0
    weights: str = "cosine2"
    shrinkage: float = 1.0
    user_offset: bool = True
    user_damping: float = 10.0
    item_damping: float = ITEM_DAMPING
    # Ridge penalty of the regression that places movies nobody rated from their attributes.
    placement_reg: float = 1.0

    def predictor_options(self) -> PredictorOptions:
        """What a learned feature version asks of the predictor."""
        return PredictorOptions(
            metric="euclidean",
            weights=self.weights,
            shrinkage=self.shrinkage,
            user_offset=self.user_offset,
            user_damping=self.user_damping,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
