"""Sparsity plans: how a sparsity target is spread over layers, and over components.

- OWL (Yin et al., 2024) as a per-layer plan any method can take: a block with more
  outliers (Wanda scores above M times their mean) is pruned less.
- The paper's full-model allocation: a total sparsity split between text encoder and
  U-Net in a text:image ratio, by parameter count (its Table 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import torch

from sdprune.pruning.spec import OWL_LAMBDA, OWL_M, OwlSettings  # noqa: F401  (still imported from here)

MAX_LAYER_SPARSITY = 0.99  # a plan never removes a layer outright


def outlier_ratio(scores: Sequence[torch.Tensor], m: float = OWL_M) -> float:
    """Share of scores above ``m`` times their mean, over all of a block's layers together."""
    flat = torch.cat([s.reshape(-1).float() for s in scores])
    return float((flat > m * flat.mean()).float().mean())


def owl_plan(
    ratios: Sequence[float],
    target: float,
    *,
    lam: float = OWL_LAMBDA,
    sizes: Sequence[int] | None = None,
) -> list[float]:
    """Per-block sparsities from per-block outlier ratios.

    As in OWL's code, ratios are min-max scaled to [0, 2*lam] and centred, and a
    block's sparsity is the target minus its centred value (more outliers, less
    pruning). Where that code breaks, this does not:
    - equal ratios (max == min) give the uniform plan instead of NaN;
    - the centring is weighted by block size (``sizes``, weights per block), so the
      component as a whole reaches the target even when blocks differ in size;
    - if a block would leave [0, MAX_LAYER_SPARSITY] (e.g. a target below 2*lam),
      the spread is shrunk just enough, which keeps the mean exactly on target.
    """
    if not 0.0 <= target < 1.0:
        raise ValueError(f"target sparsity must be in [0, 1), got {target}")
    r = torch.tensor(list(ratios), dtype=torch.float64)
    w = torch.tensor(list(sizes) if sizes is not None else [1] * len(r), dtype=torch.float64)
    w = w / w.sum()
    spread = r.max() - r.min()
    if len(r) == 0 or spread <= 0:
        return [target] * len(r)
    scaled = (r - r.min()) / spread * (2 * lam)
    deviation = scaled - (w * scaled).sum()  # weighted mean 0
    # sparsity_i = target - shrink * deviation_i must stay within [0, MAX_LAYER_SPARSITY]
    shrink = 1.0
    if deviation.max() > 0:
        shrink = min(shrink, target / float(deviation.max()))
    if deviation.min() < 0:
        shrink = min(shrink, (MAX_LAYER_SPARSITY - target) / float(-deviation.min()))
    plan = target - shrink * deviation
    return [min(max(float(s), 0.0), MAX_LAYER_SPARSITY) for s in plan]


# --- full-model allocation ---------------------------------------------------------------------


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
