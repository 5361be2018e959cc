"""The drop-off finder: where does pruning one component stop being harmless?

The paper located its thresholds (62.5 % for the text encoder, 50 % for the U-Net)
by hand. Here a coarse grid is evaluated first, then the interval between the last
good and the first bad sparsity is halved, on a grid of ``step``, until it is one
step wide. "Bad" is a stated criterion, e.g. FID above 1.2 x the dense model's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Mapping

LOWER_IS_BETTER = {"fid": True, "clip_score": False, "ssim": False, "clip_image_similarity": False}


@dataclass(frozen=True)
class Criterion:
    metric: str = "fid"
    limit: float = 1.2
    relative: bool = True  # limit is a multiple of the dense model's value

    def __post_init__(self) -> None:
        if self.metric not in LOWER_IS_BETTER:
            raise ValueError(f"unknown cliff metric {self.metric!r}; expected one of {sorted(LOWER_IS_BETTER)}")

    def threshold(self, dense_value: float) -> float:
        return self.limit * dense_value if self.relative else self.limit

    def is_bad(self, value: float, dense_value: float) -> bool:
        bound = self.threshold(dense_value)
        return value > bound if LOWER_IS_BETTER[self.metric] else value < bound

    def describe(self, dense_value: float) -> str:
        op = ">" if LOWER_IS_BETTER[self.metric] else "<"
        rel = f"{self.limit:g} x dense ({dense_value:.4g}) = " if self.relative else ""
        return f"{self.metric} {op} {rel}{self.threshold(dense_value):.4g}"


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
