"""Wanda (Sun et al., 2024): score |W_ij| * ||X_j||_2, remove the int(s * in) lowest of every output row."""

from __future__ import annotations

import torch

from sdprune.pruning.masks import Pattern, apply_mask, mask_n_m, mask_per_row
from sdprune.pruning.methods import Method


def wanda_scores(weight: torch.Tensor, column_norms: torch.Tensor) -> torch.Tensor:
    return weight.abs() * column_norms.to(weight.device, weight.dtype)[None, :]  # (out, in)


def select_mask(weight: torch.Tensor, stats, sparsity: float, pattern: Pattern) -> torch.Tensor:
    scores = wanda_scores(weight, stats.column_norms())
    return mask_n_m(scores, pattern) if pattern.n_m else mask_per_row(scores, sparsity)


def prune_layer(weight: torch.Tensor, stats, sparsity: float, pattern: Pattern):
    mask = select_mask(weight, stats, sparsity, pattern)
    return apply_mask(weight, mask), mask


METHOD = Method("wanda", statistics="norms", prune_layer=prune_layer, select_mask=select_mask,
                description="|W|*||X||, per row")
