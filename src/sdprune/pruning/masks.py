"""Pure functions from importance scores to keep-masks (True = keep the weight).

Counts follow the reference implementations (Wanda, SparseGPT, the paper's code):
a comparison group of n weights loses ``int(n * s)`` of them, a whole matrix for
magnitude, every output row for Wanda. Nothing is carried between rows, so the
realised sparsity can be a little below the request (never above); reports give
it as measured. Ties are broken by position, as a stable sort would break them, so
exactly that many weights go, even among equal scores. The cut is found by selection
(the k-th lowest score, then a comparison), not by sorting: a sort of every matrix
cost 30x the rest of magnitude pruning at SD2 size (docs/benchmarks.md).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch

_NM = re.compile(r"^(\d+):(\d+)$")
# s * n can land a hair below the integer it stands for (0.29 * 100 = 28.999999999999996);
# such a product counts as that integer instead of flooring to one less.
_COUNT_TOLERANCE = 1e-6
_INF_BUCKET = 0x7F80  # top 16 bits of float32 +inf; NaNs lie at and above it


@dataclass(frozen=True, order=True)
class Pattern:
    """`unstructured`; N:M (N of every M consecutive input weights pruned); or `structured`: whole
    attention heads and feed-forward units removed and the layers sliced (`sdprune.pruning.structured`)."""

    n: int = 0
    m: int = 0
    sliced: bool = False  # the `structured` pattern: no mask, smaller layers

    @property
    def structured(self) -> bool:
        """Whether an N:M pattern holds (the name predates the `structured` pattern, for which it is False)."""
        return self.m > 0

    @property
    def sparsity(self) -> float:
        return self.n / self.m if self.m else float("nan")

    @property
    def slug(self) -> str:
        """Path-safe name: `unstructured`, `2of4`, `structured`."""
        return f"{self.n}of{self.m}" if self.m else str(self)

    def __str__(self) -> str:
        if self.m:
            return f"{self.n}:{self.m}"
        return "structured" if self.sliced else "unstructured"


UNSTRUCTURED = Pattern()
STRUCTURED = Pattern(sliced=True)


def parse_pattern(text: str) -> Pattern:
    """Accepts `unstructured`, `structured`, `N:M` or the path form `NofM`."""
    if text in ("unstructured", "structured"):
        return STRUCTURED if text == "structured" else UNSTRUCTURED
    match = _NM.match(text.replace("of", ":"))
    if not match:
        raise ValueError(f"unknown sparsity pattern {text!r}; expected 'unstructured', 'structured' or 'N:M' such as '2:4'")
    n, m = int(match.group(1)), int(match.group(2))
    if not 0 < n < m:
        raise ValueError(f"N:M pattern needs 0 < N < M, got {text!r}")
    return Pattern(n, m)


def prune_count(total: int, sparsity: float) -> int:
    """``int(total * s)``: how many of ``total`` weights a comparison group loses."""
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")
    return math.floor(sparsity * total + _COUNT_TOLERANCE)


def mask_per_matrix(scores: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Remove the ``int(s * numel)`` lowest scores of the whole matrix (magnitude in the paper)."""
    k = prune_count(scores.numel(), sparsity)
    if not k:
        return torch.ones(scores.shape, dtype=torch.bool, device=scores.device)
    return _keep_above_lowest(scores.reshape(-1), k).reshape(scores.shape)


def mask_per_row(scores: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Remove the ``int(s * in)`` lowest scores of every output row (Wanda's comparison group).

    scores: (out, in). Every row loses the same count, as in Wanda's code; the
    remainder ``s * numel - out * int(s * in)`` is not made up elsewhere.
    """
    per_row = prune_count(scores.shape[1], sparsity)
    if not per_row:
        return torch.ones_like(scores, dtype=torch.bool)
    if scores.isnan().any():  # NaN compares false with everything: only the sort orders it (last)
        keep = torch.ones_like(scores, dtype=torch.bool)
        return keep.scatter_(1, torch.sort(scores, dim=1, stable=True).indices[:, :per_row], False)
    threshold = torch.kthvalue(scores, per_row, dim=1, keepdim=True).values  # (out, 1)
    keep = scores > threshold
    surplus = scores.shape[1] - torch.count_nonzero(keep, dim=1) - per_row  # (out,) ties at the threshold that stay
    if surplus.any():  # ties straddle the cut: the earliest of them go, the last `surplus` stay
        rows = surplus.nonzero().squeeze(1)
        tied = scores[rows] == threshold[rows]  # (r, in)
        rank = tied.cumsum(dim=1)  # 1-based rank of each tie in its row
        keep[rows] |= tied & (rank > rank[:, -1:] - surplus[rows, None])
    return keep


def _keep_above_lowest(flat: torch.Tensor, k: int) -> torch.Tensor:
    """False at the ``k`` lowest entries of a 1-D tensor, True elsewhere: exactly the first ``k`` of a
    stable ascending sort (ties by position), found by selecting the k-th value instead of sorting."""
    selected = _kth_smallest(flat, k)
    if selected is None:  # NaN compares false with everything: only the sort orders it (last)
        keep = torch.ones_like(flat, dtype=torch.bool)
        keep[torch.sort(flat, stable=True).indices[:k]] = False
        return keep
    threshold, at_or_below = selected
    keep = flat > threshold
    surplus = at_or_below - k  # entries equal to the threshold that stay
    if surplus:  # the earliest ties go, the last `surplus` stay
        tied = (flat == threshold).nonzero().squeeze(1)
        keep[tied[tied.numel() - surplus :]] = True
    return keep


def _kth_smallest(flat: torch.Tensor, k: int) -> tuple[torch.Tensor, int] | None:
    """The k-th smallest entry (1-based) of a 1-D tensor, as a 0-d tensor, and how many entries are
    at or below it; None if the tensor holds a NaN.

    Non-negative float32 (|W|, Wanda and OBS scores) takes a radix step first: the bit
    patterns of non-negative floats sort as integers, so a histogram of their top 16 bits
    finds the bucket holding the k-th value, and only that bucket (a few thousandths of
    the matrix) is selected from. Anything else goes to `torch.kthvalue` on the whole.
    """
    if flat.dtype == torch.float32 and flat.device.type == "cpu":
        top_bits = flat.view(torch.int32) >> 16  # sign, exponent, 7 mantissa bits
        try:
            counts = torch.bincount(top_bits, minlength=1 << 15).cumsum(0)
        except RuntimeError:  # a sign bit set (bincount checks for negatives itself, so no extra pass here)
            return _kth_smallest_any(flat, k)
        if counts[-1] > counts[_INF_BUCKET - 1]:  # inf or NaN: the general path sorts it out
            return _kth_smallest_any(flat, k)
        bucket = int(torch.searchsorted(counts, k))  # the first bucket whose running count reaches k
        below = int(counts[bucket - 1]) if bucket else 0
        candidates = flat[top_bits == bucket]
        threshold = torch.kthvalue(candidates, k - below).values
        return threshold, below + int(torch.count_nonzero(candidates <= threshold))
    return _kth_smallest_any(flat, k)


def _kth_smallest_any(flat: torch.Tensor, k: int) -> tuple[torch.Tensor, int] | None:
    if flat.isnan().any():
        return None
    threshold = torch.kthvalue(flat, k).values
    return threshold, int(torch.count_nonzero(flat <= threshold))


def fits_pattern(in_features: int, pattern: Pattern) -> bool:
    """Whether a layer's inputs split into whole groups of M (always, unstructured)."""
    return not pattern.structured or in_features % pattern.m == 0


def mask_n_m(scores: torch.Tensor, pattern: Pattern) -> torch.Tensor:
    """In every group of M consecutive input weights of a row, remove the N lowest scores."""
    rows, cols = scores.shape
    if not fits_pattern(cols, pattern):
        raise ValueError(f"{pattern} needs the input dimension ({cols}) to be a multiple of {pattern.m}")
    groups = scores.reshape(rows, cols // pattern.m, pattern.m)
    lowest = torch.sort(groups, dim=-1, stable=True).indices[..., : pattern.n]
    mask = torch.ones_like(groups, dtype=torch.bool)
    mask.scatter_(-1, lowest, False)
    return mask.reshape(rows, cols)


def apply_mask(weight: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The pruned weight. One function for pruning and reloading, so both give identical bits."""
    return torch.where(mask.reshape(weight.shape), weight, 0)  # as masked_fill(~mask, 0), one pass fewer
