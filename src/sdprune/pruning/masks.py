"""Pure functions from importance scores to keep-masks (True = keep the weight).

Counts follow the reference implementations (Wanda, SparseGPT, the paper's code):
a comparison group of n weights loses ``int(n * s)`` of them, a whole matrix for
magnitude, every output row for Wanda. Nothing is carried between rows, so the
realised sparsity can be a little below the request (never above); reports give
it as measured. Ties are broken by position (stable sort), so exactly that many
weights go, even among equal scores.
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
    mask = torch.ones(scores.numel(), dtype=torch.bool, device=scores.device)
    if k:
        order = torch.sort(scores.reshape(-1), stable=True).indices
        mask[order[:k]] = False
    return mask.reshape(scores.shape)


def mask_per_row(scores: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Remove the ``int(s * in)`` lowest scores of every output row (Wanda's comparison group).

    scores: (out, in). Every row loses the same count, as in Wanda's code; the
    remainder ``s * numel - out * int(s * in)`` is not made up elsewhere.
    """
    rows, cols = scores.shape
    per_row = prune_count(cols, sparsity)
    mask = torch.ones_like(scores, dtype=torch.bool)
    if per_row:
        lowest = torch.sort(scores, dim=1, stable=True).indices[:, :per_row]
        mask.scatter_(1, lowest, False)
    return mask


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
    return weight.masked_fill(~mask.reshape(weight.shape), 0)
