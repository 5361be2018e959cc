"""The drop-off finder: where does pruning one component stop being harmless?

The paper located its thresholds (62.5 % for the text encoder, 50 % for the U-Net)
by hand. Here a coarse grid is evaluated first, then the interval between the last
good and the first bad sparsity is halved, on a grid of ``step``, until it is one
step wide. "Bad" is a stated criterion, e.g. FID above 1.2 x the dense model's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Mapping

from sdprune.reporting.metrics import ACCURACY_METRICS, LOWER_IS_BETTER


@dataclass(frozen=True)
class Criterion:
    """When a pruned model counts as broken, judged on one metric beside the dense model's value ``d``.

    Two switches say how ``limit`` reads ("worse" follows the metric's direction: above for FID,
    below for an accuracy or CLIP score):

    ========  =====  ==========================================================
    relative  drop   bad when the value is worse than
    ========  =====  ==========================================================
    false     false  ``limit`` (a fixed bound)
    true      false  ``limit x d`` (a multiple of the dense model's value)
    false     true   ``d`` by more than ``limit`` (e.g. accuracy 0.1 below dense)
    true      true   ``d`` by more than ``limit x d`` (e.g. 10 % of dense lost)
    ========  =====  ==========================================================

    ``drop`` left out means false, except on the scene accuracies: there a fixed floor and a
    loss from dense are both natural readings of ``limit: 0.1``, so it must be stated.
    """

    metric: str = "fid"
    limit: float = 1.2
    relative: bool = True  # limit is in units of the dense model's value
    drop: bool | None = None  # limit is how much worse than the dense model's value is tolerated

    def __post_init__(self) -> None:
        if self.metric not in LOWER_IS_BETTER:
            raise ValueError(f"unknown cliff metric {self.metric!r}; expected one of {sorted(LOWER_IS_BETTER)}")
        if self.drop is None and self.metric in ACCURACY_METRICS:
            raise ValueError(f"cliff criterion on {self.metric}: state drop: true (bad when more than the limit "
                             "below the dense model's value) or drop: false (bad when below the limit itself)")
        if self.drop is None:
            object.__setattr__(self, "drop", False)  # frozen; the one reading every older config meant

    def threshold(self, dense_value: float) -> float:
        """The value at which a run stops being good."""
        amount = self.limit * dense_value if self.relative else self.limit
        if not self.drop:
            return amount
        return dense_value + amount if LOWER_IS_BETTER[self.metric] else dense_value - amount

    def is_bad(self, value: float, dense_value: float) -> bool:
        bound = self.threshold(dense_value)
        return value > bound if LOWER_IS_BETTER[self.metric] else value < bound

    def describe(self, dense_value: float) -> str:
        """The criterion in words, with the dense value it was applied to, e.g. ``fid > 1.2 x dense (10) = 12``."""
        lower = LOWER_IS_BETTER[self.metric]
        amount = f"{self.limit:g} x dense" if self.relative else f"{self.limit:g}"
        if self.drop:
            formula = f"dense ({dense_value:.4g}) {'+' if lower else '-'} {amount} = "
        elif self.relative:
            formula = f"{amount} ({dense_value:.4g}) = "
        else:
            formula = ""  # a fixed bound: the limit is the whole story
        return f"{self.metric} {'>' if lower else '<'} {formula}{self.threshold(dense_value):.4g}"


def snap(value: float, step: float) -> float:
    return round(round(value / step) * step, 10)


def next_round(evaluated: Mapping[float, float], dense_value: float, criterion: Criterion, step: float) -> dict:
    """From the metric at each evaluated sparsity, the bracket and the next sparsity to try (or done)."""
    points = sorted((float(s), float(v)) for s, v in evaluated.items())
    bad_points = [s for s, v in points if criterion.is_bad(v, dense_value)]
    first_bad = bad_points[0] if bad_points else None
    good = [s for s, v in points if not criterion.is_bad(v, dense_value) and (first_bad is None or s < first_bad)]
    last_good = good[-1] if good else 0.0
    state = {"evaluated": {f"{s:g}": v for s, v in points}, "dense_value": dense_value,
             "criterion": {**asdict(criterion), "text": criterion.describe(dense_value)},
             "threshold": last_good, "first_bad": first_bad, "step": step, "next": None, "done": True}
    if first_bad is None or first_bad - last_good <= step + 1e-9:
        return state  # never breaks within the grid, or bracketed to one step
    middle = snap((last_good + first_bad) / 2, step)
    if not last_good < middle < first_bad:
        return state
    return {**state, "next": middle, "done": False}
