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

import numpy as np
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
    def n_m(self) -> bool:
        """Whether an N:M pattern holds (False for `structured`, which slices instead of masking)."""
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
    return _keep_above_lowest(scores.reshape(1, -1), k).reshape(scores.shape)


def mask_per_row(scores: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Remove the ``int(s * in)`` lowest scores of every output row (Wanda's comparison group).

    scores: (out, in). Every row loses the same count, as in Wanda's code; the
    remainder ``s * numel - out * int(s * in)`` is not made up elsewhere.
    """
    per_row = prune_count(scores.shape[1], sparsity)
    if not per_row:
        return torch.ones_like(scores, dtype=torch.bool)
    return _keep_above_lowest(scores, per_row)


def _keep_above_lowest(scores: torch.Tensor, k: int) -> torch.Tensor:
    """False at the ``k`` lowest scores of every row of (rows, n) ``scores``, True elsewhere: exactly the
    first ``k`` of a stable ascending sort (ties by position), found by selecting each row's k-th score
    and comparing with it instead of sorting (a sort of every matrix cost 30x the rest of magnitude).

    In NumPy on the CPU: its introselect is 5x faster than `torch.kthvalue` on a 4 M-weight matrix,
    and its single-threaded passes do not wait on a second thread of a busy machine. On a GPU the
    same selection runs in torch (`_keep_above_lowest_torch`): a round trip through the host would cost more.
    """
    if scores.device.type != "cpu":
        return _keep_above_lowest_torch(scores, k)
    values = scores.detach()
    if values.dtype not in (torch.float32, torch.float64):
        values = values.float()  # exact for float16 / bfloat16: order and ties unchanged
    a = values.numpy()  # (rows, n)
    if np.isnan(a.min()):  # NaN (min propagates it) compares false with everything: only the sort orders it
        lowest = torch.sort(values, dim=1, stable=True).indices[:, :k]
        return torch.ones_like(values, dtype=torch.bool).scatter_(1, lowest, False).to(scores.device)
    if a.shape[0] == 1:  # one comparison group, the whole matrix: magnitude
        threshold = np.array([[_kth_lowest(a[0], k)]], dtype=a.dtype)
    else:
        threshold = np.partition(a, k - 1, axis=1)[:, k - 1 : k]  # (rows, 1) each row's k-th lowest
    keep = a > threshold
    surplus = a.shape[1] - np.count_nonzero(keep, axis=1) - k  # (rows,) ties at the threshold that stay
    rows = np.flatnonzero(surplus)
    if rows.size:  # the earliest ties go, the last `surplus` of them stay
        ties = a[rows] == threshold[rows]  # (r, n)
        rank = np.cumsum(ties, axis=1)  # 1-based rank of each tie in its row
        keep[rows] |= ties & (rank > rank[:, -1:] - surplus[rows, None])
    return torch.from_numpy(keep).to(scores.device)


BRACKET_SAMPLE = 32768  # scores a bracket around the k-th lowest is estimated from


def _kth_lowest(a: np.ndarray, k: int):
    """The k-th lowest (1-based) of 1-D ``a``, exactly. A full introselect of a big matrix is the bulk of
    magnitude pruning's time; instead a strided sample brackets the value, two counting passes check the
    bracket holds it, and only the few scores inside it are partitioned. A bracket that misses (scores
    that are not spread alike along the matrix) falls back to the full partition: same value, slower."""
    n = a.size
    if n < 4 * BRACKET_SAMPLE:
        return np.partition(a, k - 1)[k - 1]
    sample = np.sort(a[:: n // BRACKET_SAMPLE])
    at = k / n * sample.size
    margin = 4 * math.sqrt(sample.size) + 8  # ~8 standard deviations of the sampled rank: misses are rare
    low = sample[int(at - margin)] if at - margin >= 0 else -np.inf
    high = sample[int(at + margin)] if at + margin < sample.size else np.inf
    below = np.count_nonzero(a < low)
    inside = a[(a >= low) & (a <= high)]
    if below < k <= below + inside.size:
        return np.partition(inside, k - below - 1)[k - below - 1]
    return np.partition(a, k - 1)[k - 1]


def _keep_above_lowest_torch(scores: torch.Tensor, k: int) -> torch.Tensor:
    """`_keep_above_lowest` in torch ops on the scores' own device; the same mask, bit for bit."""
    values = scores.detach()
    if values.dtype not in (torch.float32, torch.float64):
        values = values.float()
    if torch.isnan(values).any():
        lowest = torch.sort(values, dim=1, stable=True).indices[:, :k]
        return torch.ones_like(values, dtype=torch.bool).scatter_(1, lowest, False)
    threshold = torch.kthvalue(values, k, dim=1, keepdim=True).values  # (rows, 1)
    keep = values > threshold
    surplus = values.shape[1] - keep.sum(dim=1) - k
    rows = surplus.nonzero().flatten()
    if rows.numel():
        ties = values[rows] == threshold[rows]
        rank = ties.cumsum(dim=1)
        keep[rows] |= ties & (rank > rank[:, -1:] - surplus[rows, None])
    return keep


def fits_pattern(in_features: int, pattern: Pattern) -> bool:
    """Whether a layer's inputs split into whole groups of M (always, unstructured)."""
    return not pattern.n_m or in_features % pattern.m == 0


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
