"""SparseGPT (Frantar & Alistarh, 2023): OBS pruning with the weight update, column block by block.

With H = 2 X^T X / n (damped by 1 % of its mean diagonal), columns are processed in
blocks of 128. Within a block, weights are chosen by w^2 / [H^-1]_jj^2 and removed
one column at a time, the error of each removed weight being pushed onto the
columns not yet processed (the OBS update). Inputs that are always zero ("dead"
columns) carry no information: their weights are zeroed first and their Hessian
diagonal set to 1, so the inverse exists and no NaN appears.
"""

from __future__ import annotations

import torch

from sdprune.pruning.masks import Pattern, mask_n_m, mask_per_matrix
from sdprune.pruning.methods import Method

BLOCK_SIZE = 128
DAMPING = 0.01


def inverse_hessian_cholesky(hessian: torch.Tensor, damping: float = DAMPING) -> torch.Tensor:
    """Upper Cholesky factor of H^-1 (what the column-by-column update needs), float32."""
    h = hessian.clone()
    h.diagonal().add_(damping * h.diagonal().mean())
    h_inv = torch.cholesky_inverse(torch.linalg.cholesky(h))
    return torch.linalg.cholesky(h_inv, upper=True)


def prune_layer(weight: torch.Tensor, stats, sparsity: float, pattern: Pattern, *,
                block_size: int = BLOCK_SIZE, damping: float = DAMPING):
    """weight: (out, in) float32; returns (updated pruned weight, keep-mask)."""
    w = weight.clone().float()
    hessian = stats.hessian().to(w.device).clone()
    rows, cols = w.shape
    dead = torch.diagonal(hessian) == 0
    hessian[dead, dead] = 1.0
    w[:, dead] = 0.0
    h_inv = inverse_hessian_cholesky(hessian, damping)  # (in, in) upper triangular

    keep = torch.ones_like(w, dtype=torch.bool)
    for start in range(0, cols, block_size):
        end = min(start + block_size, cols)
        w_block = w[:, start:end].clone()
        h_block = h_inv[start:end, start:end]
        errors = torch.zeros_like(w_block)
        if pattern.structured:
            block_keep = torch.ones_like(w_block, dtype=torch.bool)
        else:
            scores = w_block.pow(2) / torch.diagonal(h_block).pow(2)[None, :]
            block_keep = mask_per_matrix(scores, sparsity)
        for j in range(end - start):
            column = w_block[:, j]
            d = h_block[j, j]
            if pattern.structured and j % pattern.m == 0:
                group = w_block[:, j : j + pattern.m].pow(2) / torch.diagonal(h_block)[j : j + pattern.m].pow(2)
                block_keep[:, j : j + pattern.m] = mask_n_m(group, pattern)
            pruned = column * block_keep[:, j]
            error = (column - pruned) / d
            w_block[:, j:] -= error[:, None] * h_block[j, j:][None, :]
            w_block[:, j] = pruned
            errors[:, j] = error
        w[:, start:end] = w_block
        keep[:, start:end] = block_keep
        w[:, end:] -= errors @ h_inv[start:end, end:]
    return w * keep, keep


METHOD = Method("sparsegpt", statistics="hessian", prune_layer=prune_layer, updates_weights=True,
                description="OBS with weight update, column blocks of 128")
