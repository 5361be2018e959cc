"""SparseGPT (Frantar & Alistarh, 2023): OBS pruning with the weight update, column block by block.

Its Hessian is H = 2 X^T X / n over the calibration inputs; the update itself
(`_obs.obs_prune`) is shared with OBS-Diff, which only weights the inputs differently.
"""

from __future__ import annotations

import torch

from sdprune.pruning.masks import Pattern
from sdprune.pruning.methods import Method
from sdprune.pruning.methods._obs import BLOCK_SIZE, DAMPING, inverse_hessian_cholesky, obs_prune

__all__ = ["BLOCK_SIZE", "DAMPING", "METHOD", "inverse_hessian_cholesky", "prune_layer"]


def prune_layer(weight: torch.Tensor, stats, sparsity: float, pattern: Pattern, *,
                block_size: int = BLOCK_SIZE, damping: float = DAMPING):
    """weight: (out, in) float32; returns (updated pruned weight, keep-mask)."""
    return obs_prune(weight, stats.hessian(), sparsity, pattern, block_size=block_size, damping=damping)


METHOD = Method("sparsegpt", statistics="hessian", prune_layer=prune_layer, updates_weights=True,
                description="OBS with weight update, column blocks of 128")
