"""OWL (Yin et al., 2024) as a per-layer plan any method can take.

A block with more outliers (Wanda scores above M times their mean, on the dense
model) is pruned less; the plan keeps the component's sparsity on target.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import torch
import torch.nn as nn

from sdprune.pruning.calibration.groups import calibration_groups, unit_name
from sdprune.pruning.calibration.statistics import LayerStatistics
from sdprune.pruning.methods.wanda import wanda_scores
from sdprune.pruning.spec import OWL_LAMBDA, OWL_M, OwlSettings, PruneSpec

MAX_LAYER_SPARSITY = 0.99  # a plan never removes a layer outright


def plan_layers(module: nn.Module, component: str, layers: Mapping[str, nn.Module], spec: PruneSpec, *,
                dense_norms: Callable[[], Mapping], owl: OwlSettings,
                layer_sparsity: Mapping[str, float] | None = None) -> tuple[dict[str, float], dict[str, float]]:
    """OWL's plan from the dense model's input norms (``layer_sparsity`` overrides do not apply)."""
    if spec.pattern.n_m:
        raise ValueError("an OWL plan varies sparsity per layer; an N:M pattern fixes it")
    per_layer, per_block = owl_layer_sparsity(module, component, layers, dense_norms(), spec.sparsity,
                                              m=owl.m, lam=owl.lam)
    return {name: per_layer[name] for name in layers}, per_block  # in layer order, as reports list them


def owl_layer_sparsity(module: nn.Module, component: str, layers: Mapping[str, nn.Module],
                       stats: Mapping[str, LayerStatistics], target: float, *, m: float = OWL_M,
                       lam: float = OWL_LAMBDA) -> tuple[dict[str, float], dict[str, float]]:
    """OWL's plan for a component: one sparsity per block, from the dense model's Wanda scores.

    The scores pool the layers of a block, so they use each input column's RMS over
    rows, not its norm: in a U-Net block, layers see different numbers of rows
    (image tokens, 77 text tokens, one time embedding), and norms would make the
    outlier ratio a token count. Where every layer sees the same rows (the text
    encoder) the two differ by one factor per block, and the ratio is the same.

    Returns (layer -> sparsity, block -> outlier ratio).
    """
    units = calibration_groups(module, component, list(layers), 0)  # one unit per block
    ratios, sizes = [], []
    for unit in units:
        scores = [wanda_scores(layers[n].weight.float().reshape(layers[n].weight.shape[0], -1),
                               stats[n].column_rms()) for n in unit]
        ratios.append(outlier_ratio(scores, m))
        sizes.append(sum(layers[n].weight.numel() for n in unit))
    plan = owl_plan(ratios, target, lam=lam, sizes=sizes)
    per_layer = {n: sparsity for unit, sparsity in zip(units, plan) for n in unit}
    per_block = {unit_name(module, component, unit): ratio for unit, ratio in zip(units, ratios)}
    return per_layer, per_block


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
