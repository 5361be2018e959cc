"""Structured pruning, one output projection at a time: choose units by OBS, compensate, slice.

The units of a module go by the saliency of its output projection's column groups
(`obs`), computed from the input statistics the method collects: a Hessian
(SparseGPT, OBS-Diff) gives OBS with the compensating update; input norms (Wanda)
give the diagonal of X^T X, i.e. |W|^2 * ||X||^2 per group and no update; no
statistics (magnitude) give H = I, the group's squared weight norm. Each module
loses ``int(s * units)`` of its units, and keeps at least one.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch
import torch.nn as nn

from sdprune.pruning.masks import prune_count
from sdprune.pruning.structured.obs import obs_remove_groups
from sdprune.pruning.structured.sliced_unet import slice_units
from sdprune.pruning.structured.units import UnitModule, unit_modules


def saliency_hessian(stats, in_features: int) -> torch.Tensor:
    """The (in, in) matrix OBS weighs a layer's inputs by: the collected Hessian, the diagonal of
    X^T X from input norms, or the identity without statistics."""
    if stats is None:
        return torch.eye(in_features)
    if stats.kind == "norms":
        return torch.diag(stats.column_norms().double().pow(2))
    return stats.hessian()


def units_to_remove(unit: UnitModule, sparsity: float) -> int:
    return min(prune_count(unit.units, sparsity), unit.units - 1)


class UnitPruner:
    """Prunes the units of ``model`` in place, module by module, and keeps what the artifact needs:
    the removed units per module and the new weights of the projections the update changed."""

    def __init__(self, model: nn.Module, sparsity: float, *, greedy: bool = True):
        self.model, self.sparsity, self.greedy = model, sparsity, greedy
        self.units = unit_modules(model)
        self.removed: dict[str, list[int]] = {}  # Attention / FeedForward name -> removed unit indices
        self.weights: dict[str, torch.Tensor] = {}  # projection name -> its sliced, compensated weight

    def projections(self) -> dict[str, nn.Module]:
        """{name: output projection}: the layers whose inputs calibration collects."""
        return {name: self.model.get_submodule(name) for name in self.units}

    @torch.no_grad()
    def prune(self, names: Sequence[str], stats: Mapping | None) -> None:
        for name in names:
            self._prune_module(self.units[name], stats[name] if stats is not None else None)

    def _prune_module(self, unit: UnitModule, stats) -> None:
        layer = self.model.get_submodule(unit.projection)
        weight = layer.weight  # (out, in)
        hessian = saliency_hessian(stats, weight.shape[1]).to(weight.device)
        new_weight, removed = obs_remove_groups(weight.float(), hessian, unit.groups().to(weight.device),
                                                units_to_remove(unit, self.sparsity), greedy=self.greedy)
        if not removed:
            return
        new_weight = new_weight.to(weight.dtype)
        kept = torch.ones(weight.shape[1], dtype=torch.bool, device=weight.device)
        kept[unit.groups()[removed].reshape(-1).to(weight.device)] = False
        # Magnitude and norms leave the kept columns as they were: then the base model holds them.
        compensated = not torch.equal(new_weight[:, kept], weight[:, kept])
        weight.copy_(new_weight)
        slice_units(self.model, {unit.name: removed})
        self.removed[unit.name] = removed
        if compensated:
            self.weights[unit.projection] = layer.weight.detach().cpu().clone()
