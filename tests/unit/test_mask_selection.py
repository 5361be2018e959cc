"""The selection-based masks against their definition: the first k of a stable ascending sort.

`mask_per_matrix` and `mask_per_row` find the cut by selecting the k-th score and comparing
(masks.py); these tests restate the sort they replace and demand the same bits, on scores
full of ties, where only the position tie-break decides.
"""

import numpy as np
import pytest
import torch

from sdprune.pruning import masks
from sdprune.pruning.masks import _keep_above_lowest_torch, mask_per_matrix, mask_per_row, prune_count


def sorted_per_matrix(scores: torch.Tensor, sparsity: float) -> torch.Tensor:
    keep = torch.ones(scores.numel(), dtype=torch.bool)
    keep[torch.sort(scores.reshape(-1), stable=True).indices[: prune_count(scores.numel(), sparsity)]] = False
    return keep.reshape(scores.shape)


def sorted_per_row(scores: torch.Tensor, sparsity: float) -> torch.Tensor:
    lowest = torch.sort(scores, dim=1, stable=True).indices[:, : prune_count(scores.shape[1], sparsity)]
    return torch.ones_like(scores, dtype=torch.bool).scatter_(1, lowest, False)


def tied_scores(shape, levels: int, seed: int, dtype=torch.float32) -> torch.Tensor:
    """Scores drawn from ``levels`` values only: most of them tie with many others."""
    generator = torch.Generator().manual_seed(seed)
    return (torch.randint(0, levels, shape, generator=generator).to(dtype) / levels).abs()


SCORES = {
    "two levels": lambda: tied_scores((64, 96), 2, 0),
    "seven levels": lambda: tied_scores((128, 40), 7, 1),
    "mostly zero": lambda: torch.where(torch.rand(96, 64, generator=torch.Generator().manual_seed(2)) < 0.8,
                                       0.0, torch.rand(96, 64, generator=torch.Generator().manual_seed(3))),
    "all equal": lambda: torch.full((33, 17), 0.25),
    "continuous": lambda: torch.randn(300, 200, generator=torch.Generator().manual_seed(4)).abs(),
    "values a hair apart": lambda: 1.0 + torch.randint(0, 50, (80, 80), generator=torch.Generator().manual_seed(5)) * 2**-20,
    "negative (no radix step)": lambda: tied_scores((64, 64), 5, 6) - 0.5,
    "minus zero among zeros": lambda: torch.tensor([[0.0, -0.0, 1.0, 0.0], [-0.0, 2.0, 0.0, -0.0]]),
    "float64": lambda: tied_scores((50, 60), 4, 7, torch.float64),
    "with inf": lambda: torch.cat([tied_scores((10, 20), 3, 8), torch.full((2, 20), float("inf"))]),
}
SPARSITIES = [0.1, 0.25, 0.5, 0.575, 0.9, 0.99]


@pytest.mark.parametrize("name", SCORES)
@pytest.mark.parametrize("sparsity", SPARSITIES)
def test_per_matrix_selection_equals_the_stable_sort(name, sparsity):
    scores = SCORES[name]()
    assert torch.equal(mask_per_matrix(scores, sparsity), sorted_per_matrix(scores, sparsity))


@pytest.mark.parametrize("name", SCORES)
@pytest.mark.parametrize("sparsity", SPARSITIES)
def test_per_row_selection_equals_the_stable_sort(name, sparsity):
    scores = SCORES[name]()
    assert torch.equal(mask_per_row(scores, sparsity), sorted_per_row(scores, sparsity))


def test_nan_scores_go_last_as_the_sort_puts_them():
    scores = torch.tensor([[float("nan"), 0.5, 0.1, float("nan")], [0.3, float("nan"), 0.3, 0.2]])
    assert torch.equal(mask_per_matrix(scores, 0.75), sorted_per_matrix(scores, 0.75))
    assert torch.equal(mask_per_row(scores, 0.75), sorted_per_row(scores, 0.75))
    assert mask_per_matrix(scores, 0.5)[0, 0]  # a NaN is never among the lowest while numbers remain
    tied = torch.tensor([[0.5, 0.5, float("nan"), 0.5, 0.5, 0.5]])  # 3 of the 5 ties go, the NaN stays
    assert torch.equal(mask_per_row(tied, 0.5), sorted_per_row(tied, 0.5))
    assert torch.equal(mask_per_matrix(tied, 0.5), sorted_per_matrix(tied, 0.5))


def test_ties_straddling_the_cut_leave_the_latest_ones():
    scores = torch.tensor([[0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.0, 0.9]])  # 4 go: the 0, then three 0.5s, earliest first
    assert mask_per_matrix(scores, 0.5).tolist() == [[False, False, False, True, True, True, False, True]]


@pytest.mark.parametrize("name", SCORES)
@pytest.mark.parametrize("sparsity", SPARSITIES)
def test_the_gpu_path_selects_the_same_bits(name, sparsity):
    """The torch selection (run where scores live on a GPU) is the NumPy one, bit for bit; here on the CPU."""
    scores = SCORES[name]()
    per_row = prune_count(scores.shape[1], sparsity)
    if per_row:
        assert torch.equal(_keep_above_lowest_torch(scores, per_row), sorted_per_row(scores, sparsity))
    flat, k = scores.reshape(1, -1), prune_count(scores.numel(), sparsity)
    if k:  # (k = 0 never reaches the selection)
        assert torch.equal(_keep_above_lowest_torch(flat, k).reshape(scores.shape), sorted_per_matrix(scores, sparsity))


def _large(kind: str) -> torch.Tensor:
    generator = torch.Generator().manual_seed(9)
    if kind == "continuous":
        return torch.randn(512, 640, generator=generator).abs()
    if kind == "three levels":
        return tied_scores((512, 640), 3, 10)
    if kind == "ascending":
        return torch.arange(512 * 640, dtype=torch.float32).reshape(512, 640) / 7
    scores = torch.zeros(512 * 640)  # "sample misses": every sampled position large, the rest zero
    scores[:: scores.numel() // masks.BRACKET_SAMPLE] = 1.0
    return scores.reshape(512, 640)


@pytest.mark.parametrize("kind", ["continuous", "three levels", "ascending", "sample misses"])
def test_the_bracketed_selection_of_a_big_matrix_is_exact(kind):
    """From 4 x BRACKET_SAMPLE scores the k-th lowest comes from a sampled bracket (or, when the
    bracket misses, a full partition): the same value and the same mask as the sort, at any k."""
    scores = _large(kind)
    flat = scores.reshape(-1).numpy()
    assert flat.size >= 4 * masks.BRACKET_SAMPLE
    for k in (1, 1000, flat.size // 3, flat.size // 2, flat.size - 1, flat.size):
        assert masks._kth_lowest(flat, k) == np.sort(flat)[k - 1], k
    for sparsity in (0.3, 0.5, 0.9):
        assert torch.equal(mask_per_matrix(scores, sparsity), sorted_per_matrix(scores, sparsity))
