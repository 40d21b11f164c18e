"""What each outcome of a binary decision costs: the product goal the threshold is chosen for."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from assay.errors import DataError


@dataclass(frozen=True, slots=True)
class CostMatrix:
    """Cost of each outcome of one decision (predict positive iff score >= threshold).

    Costs are in any unit (money, minutes); a benefit is a negative cost. Build from business values
    (a gain per outcome) with `from_values`, which negates them.
    """

    false_positive: float
    false_negative: float
    true_positive: float = 0.0
    true_negative: float = 0.0

    def __post_init__(self) -> None:
        for name in ("false_positive", "false_negative", "true_positive", "true_negative"):
            value = getattr(self, name)
            if not math.isfinite(value):
                raise DataError(f"cost of {name.replace('_', ' ')} must be a finite number, got {value!r}", hint="give every outcome a finite cost (0 if it costs nothing)")

    @classmethod
    def from_values(
        cls, *, true_positive: float, true_negative: float, false_positive: float, false_negative: float
    ) -> CostMatrix:
        """From the business value of each outcome (positive is good); the cost is minus the value."""
        return cls(
            false_positive=-false_positive,
            false_negative=-false_negative,
            true_positive=-true_positive,
            true_negative=-true_negative,
        )

    def by_cell(self) -> np.ndarray:
        """Costs indexed by 2 * label + predicted: [true negative, false positive, false negative, true positive]."""
        return np.array([self.true_negative, self.false_positive, self.false_negative, self.true_positive])

    def to_dict(self) -> dict[str, float]:
        return {
            "false_positive": self.false_positive,
            "false_negative": self.false_negative,
            "true_positive": self.true_positive,
            "true_negative": self.true_negative,
        }


__all__ = ["CostMatrix"]
