"""The paper's full-model allocation: a total sparsity split between text encoder and
U-Net in a text:image ratio, by parameter count (its Table 1).

Per-layer plans (uniform, OWL) live in `sdprune.pruning.plans`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping


@dataclass(frozen=True)
class Allocation:
    total: float
    ratio: str  # "text:image", e.g. "75:25"
    text_encoder: float | None
    unet: float | None
    reason: str = ""  # why the combination is infeasible (then both sparsities are None)

    @property
    def feasible(self) -> bool:
        return not self.reason


def parse_ratio(ratio: str) -> tuple[float, float]:
    try:
        text, image = (float(x) for x in ratio.split(":"))
    except ValueError:
        raise ValueError(f"ratio must look like '75:25', got {ratio!r}") from None
    if text < 0 or image < 0 or text + image <= 0:
        raise ValueError(f"ratio parts must be non-negative and not both zero, got {ratio!r}")
    return text / (text + image), image / (text + image)


def allocate(total: float, ratio: str, parameter_counts: Mapping[str, int], *, rounding: float = 0.01) -> Allocation:
    """Split a full-model sparsity between the components, as the paper's Table 1.

    The share of the removed parameters given to a component, divided by its size,
    is its sparsity; rounded to ``rounding`` (the paper gives whole percents). A
    component that would need 100 % or more is not clamped: the combination is
    returned as infeasible with its reason.
    """
    text_share, image_share = parse_ratio(ratio)
    n_text, n_unet = parameter_counts["text_encoder"], parameter_counts["unet"]
    removed = total * (n_text + n_unet)
    wanted = {"text_encoder": removed * text_share / n_text, "unet": removed * image_share / n_unet}
    too_much = [f"the {name.replace('_', ' ')} would need {value:.0%}" for name, value in wanted.items() if value >= 1.0]
    if too_much:
        return Allocation(total, ratio, None, None, reason="; ".join(too_much))
    rounded = {name: round(round(value / rounding) * rounding, 10) for name, value in wanted.items()}
    return Allocation(total, ratio, rounded["text_encoder"], rounded["unet"])
