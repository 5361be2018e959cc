"""The column-block OBS loop runs on the block's transpose with matmul rank-1 updates: the bits must
be those of the plain column-major loop (written out here as the paper's code states it)."""

from __future__ import annotations

import pytest
import torch

from sdprune.pruning.masks import mask_n_m, mask_per_matrix, parse_pattern
from sdprune.pruning.methods import _obs


def column_major_block(w_block, h_block, sparsity, pattern):
    """The update as SparseGPT writes it: column j's error, broadcast onto columns j.. of the block."""
    errors = torch.zeros_like(w_block)
    if pattern.n_m:
        keep = torch.ones_like(w_block, dtype=torch.bool)
    else:
        keep = mask_per_matrix(w_block.pow(2) / torch.diagonal(h_block).pow(2)[None, :], sparsity)
    for j in range(w_block.shape[1]):
        column, d = w_block[:, j], h_block[j, j]
        if pattern.n_m and j % pattern.m == 0:
            diag = torch.diagonal(h_block)[j : j + pattern.m]
            keep[:, j : j + pattern.m] = mask_n_m(w_block[:, j : j + pattern.m].pow(2) / diag.pow(2), pattern)
        pruned = column * keep[:, j]
        error = (column - pruned) / d
        w_block[:, j:] -= error[:, None] * h_block[j, j:][None, :]
        w_block[:, j] = pruned
        errors[:, j] = error
    return w_block, errors, keep


@pytest.mark.parametrize("pattern, sparsity", [("unstructured", 0.37), ("2:4", 0.5), ("4:8", 0.5)])
@pytest.mark.parametrize("out_features, in_features", [(96, 320), (200, 136)])
def test_transposed_block_loop_gives_the_column_major_bits(pattern, sparsity, out_features, in_features, monkeypatch):
    generator = torch.Generator().manual_seed(in_features)
    x = torch.randn(500, in_features, generator=generator)
    x[:, 3] = 0.0  # a dead input
    hessian, weight = 2 * x.T @ x / 500, torch.randn(out_features, in_features, generator=generator)
    new_weight, keep = _obs.obs_prune(weight, hessian, sparsity, parse_pattern(pattern))
    monkeypatch.setattr(_obs, "_prune_block", column_major_block)
    old_weight, old_keep = _obs.obs_prune(weight, hessian, sparsity, parse_pattern(pattern))
    assert torch.equal(keep, old_keep)
    assert torch.equal(new_weight.view(torch.int32), old_weight.view(torch.int32))  # signs of zeros too
    assert 0 < int((~keep).sum()) < keep.numel()
