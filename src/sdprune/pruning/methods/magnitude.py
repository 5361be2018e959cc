"""Magnitude pruning: remove the int(s * numel) smallest |W| of each weight matrix (as in the paper)."""

from __future__ import annotations

import torch

from sdprune.pruning.masks import Pattern, apply_mask, mask_n_m, mask_per_matrix
from sdprune.pruning.methods import Method


def select_mask(weight: torch.Tensor, stats, sparsity: float, pattern: Pattern) -> torch.Tensor:
    scores = weight.abs()
    return mask_n_m(scores, pattern) if pattern.n_m else mask_per_matrix(scores, sparsity)


def prune_layer(weight: torch.Tensor, stats, sparsity: float, pattern: Pattern):
    mask = select_mask(weight, stats, sparsity, pattern)
    return apply_mask(weight, mask), mask


METHOD = Method("magnitude", statistics=None, prune_layer=prune_layer, select_mask=select_mask,
                description="|W|, per matrix")
