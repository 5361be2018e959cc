"""The column-block OBS update that SparseGPT and OBS-Diff share (not a method: no ``METHOD``).

With H the layer's Hessian (damped by 1 % of its mean diagonal), columns are processed in
blocks of 128. Within a block, weights are chosen by w^2 / [H^-1]_jj^2 and removed
one column at a time, the error of each removed weight being pushed onto the
columns not yet processed (the OBS update). Inputs that are always zero ("dead"
columns) carry no information: their weights are zeroed first and their Hessian
diagonal set to 1, so the inverse exists and no NaN appears.

The two methods differ only in the Hessian they are given: SparseGPT's is
2 X^T X / n over the calibration inputs, OBS-Diff's weights each denoising step's
inputs by the step (``calibration.feeds.timestep_weights``).
"""

from __future__ import annotations

import torch

from sdprune.pruning.masks import Pattern, mask_n_m, mask_per_matrix

BLOCK_SIZE = 128
DAMPING = 0.01


def inverse_hessian_cholesky(hessian: torch.Tensor, damping: float = DAMPING, *, overwrite: bool = False) -> torch.Tensor:
    """Upper Cholesky factor of H^-1 (what the column-by-column update needs), float32.
    ``overwrite``: damp ``hessian`` itself (one (in, in) copy fewer at the peak)."""
    h = hessian if overwrite else hessian.clone()
    h.diagonal().add_(damping * h.diagonal().mean())
    h_inv = torch.cholesky_inverse(torch.linalg.cholesky(h))
    return torch.linalg.cholesky(h_inv, upper=True)


def obs_prune(weight: torch.Tensor, hessian: torch.Tensor, sparsity: float, pattern: Pattern, *,
              block_size: int = BLOCK_SIZE, damping: float = DAMPING) -> tuple[torch.Tensor, torch.Tensor]:
    """weight: (out, in) float32, hessian: (in, in); returns (updated pruned weight, keep-mask)."""
    w = weight.clone().float()
    hessian = hessian.to(w.device).clone()
    cols = w.shape[1]
    dead = torch.diagonal(hessian) == 0
    hessian[dead, dead] = 1.0
    w[:, dead] = 0.0
    h_inv = inverse_hessian_cholesky(hessian, damping, overwrite=True)  # (in, in) upper triangular; our copy
    del hessian

    keep = torch.ones_like(w, dtype=torch.bool)
    for start in range(0, cols, block_size):
        end = min(start + block_size, cols)
        w_block, errors, block_keep = _prune_block(w[:, start:end].clone(), h_inv[start:end, start:end],
                                                   sparsity, pattern)
        w[:, start:end] = w_block
        keep[:, start:end] = block_keep
        w[:, end:] -= errors @ h_inv[start:end, end:]  # the block's errors, pushed onto the later columns
    return w.mul_(keep), keep  # in place: one (out, in) buffer fewer at the peak


def _prune_block(w_block: torch.Tensor, h_block: torch.Tensor, sparsity: float, pattern: Pattern):
    """One block of columns, column by column: (updated block, its scaled errors, its keep-mask).

    w_block: (out, B). The loop runs on its transpose (B, out), so each column is a contiguous row,
    and forms each rank-1 update as a (B - j, 1) @ (1, out) product: every entry is one rounded
    product either way, so the bits are those of the column-major broadcast, about 25 % sooner.
    """
    rows = w_block.T.contiguous()  # (B, out): row j is column j of the block
    errors = torch.zeros_like(rows)
    if pattern.n_m:  # N:M: each group of M columns is chosen when the update reaches it
        block_keep = torch.ones_like(w_block, dtype=torch.bool)
    else:
        scores = w_block.pow(2) / torch.diagonal(h_block).pow(2)[None, :]
        block_keep = mask_per_matrix(scores, sparsity)
    keep = block_keep.T.to(rows.dtype).contiguous()  # (B, out); x * 1.0 / x * 0.0, as x * True / x * False
    for j in range(rows.shape[0]):
        row = rows[j]
        d = h_block[j, j]
        if pattern.n_m and j % pattern.m == 0:
            group = rows[j : j + pattern.m].T.pow(2) / torch.diagonal(h_block)[j : j + pattern.m].pow(2)
            block_keep[:, j : j + pattern.m] = mask_n_m(group, pattern)
            keep[j : j + pattern.m] = block_keep[:, j : j + pattern.m].T
        pruned = row * keep[j]
        error = (row - pruned) / d
        rows[j:] -= h_block[j, j:][:, None] @ error[None, :]
        rows[j] = pruned
        errors[j] = error
    return rows.T, errors.T.contiguous(), block_keep
