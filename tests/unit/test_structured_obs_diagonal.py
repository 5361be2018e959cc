"""A diagonal Hessian (magnitude: H = I; input norms) takes a short path through structured OBS:
the same units and bits as the greedy loop it skips."""

from __future__ import annotations

import pytest
import torch

from sdprune.pruning.structured import obs
from sdprune.pruning.structured.units import head_columns


def diagonal_hessian(columns: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    diagonal = torch.rand(columns, generator=generator, dtype=torch.float64) + 0.1
    diagonal[::17] = 0.0  # dead inputs get a unit diagonal first
    return torch.diag(diagonal)


def column_groups(columns: int, width: int) -> torch.Tensor:
    units = columns // width
    return head_columns(torch.arange(units), width).reshape(units, width)


@pytest.mark.parametrize("width, columns, count", [(1, 320, 96), (64, 640, 4), (1, 1024, 300)])
@pytest.mark.parametrize("identity", [True, False])
def test_diagonal_hessian_removal_matches_the_greedy_loop(width, columns, count, identity):
    generator = torch.Generator().manual_seed(columns + width)
    weight = torch.randn(96, columns, generator=generator)
    hessian = torch.eye(columns, dtype=torch.float64) if identity else diagonal_hessian(columns, seed=width)
    groups = column_groups(columns, width)
    fast_weight, fast_removed = obs.obs_remove_groups(weight, hessian, groups, count)

    w, h_inv = weight.to(torch.float64).clone(), obs.damped_inverse(hessian)
    slow_removed = obs._greedy_removal(w, h_inv, groups, count)
    assert fast_removed == slow_removed and len(fast_removed) == count
    assert torch.equal(fast_weight, w.to(weight.dtype))
    kept = torch.ones(columns, dtype=torch.bool)
    kept[groups[fast_removed].reshape(-1)] = False
    assert torch.equal(fast_weight[:, kept], weight[:, kept]) and not fast_weight[:, ~kept].any()


def test_a_full_hessian_still_takes_the_greedy_loop():
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(400, 128, generator=generator)
    weight = torch.randn(32, 128, generator=generator)
    hessian, groups = x.T @ x, column_groups(128, 16)
    new_weight, removed = obs.obs_remove_groups(weight, hessian, groups, 3)
    w, h_inv = weight.to(torch.float64).clone(), obs.damped_inverse(hessian)
    assert removed == obs._greedy_removal(w, h_inv, groups, 3)
    assert torch.equal(new_weight, w.to(weight.dtype))
    kept = torch.ones(128, dtype=torch.bool)
    kept[groups[removed].reshape(-1)] = False
    assert not torch.equal(new_weight[:, kept], weight[:, kept])  # compensated: the kept columns moved
