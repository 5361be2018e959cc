"""OBS for groups of input columns: which units of a layer to remove, and how to compensate.

For a layer y = W x with input Hessian H (X^T X up to a factor, damped by 1 % of
its mean diagonal as SparseGPT does) and a group G of input columns (one
attention head: d columns; one feed-forward unit: one column), removing G costs

    saliency(G) = sum over output rows r of  W[r, G] [(H^-1)_GG]^-1 W[r, G]^T

and the least-squares optimal change of the remaining columns is

    delta = -W[:, G] [(H^-1)_GG]^-1 (H^-1)_G,:          (it also zeroes W[:, G])

Greedy removal takes the cheapest group, applies delta, and removes G from H^-1
(H^-1 <- H^-1 - (H^-1)_:G [(H^-1)_GG]^-1 (H^-1)_G:), so each later choice sees the
layer as already compensated; one-shot removal ranks all groups once and removes
the cheapest together. With H = I (no calibration data) the saliency is the
squared norm of the group's weights and delta is zero: magnitude pruning.
The loop runs in float64: a long run of inverse downdates drifts in float32.
"""

from __future__ import annotations

import torch

# 1 % of the mean diagonal, SparseGPT's (a test holds them equal). Not imported from it: every prune job
# runs this module (prune.py dispatches structured specs here), and its code fingerprint must not take
# in the OBS update that only SparseGPT and OBS-Diff run.
DAMPING = 0.01


def damped_inverse(hessian: torch.Tensor, damping: float = DAMPING) -> torch.Tensor:
    """(H + damping * mean(diag H) I)^-1 in float64; inputs that were always zero get a unit diagonal."""
    h = hessian.to(torch.float64).clone()
    dead = torch.diagonal(h) == 0
    h[dead, dead] = 1.0
    h.diagonal().add_(damping * h.diagonal().mean())
    return torch.cholesky_inverse(torch.linalg.cholesky(h))


def group_saliency(weight: torch.Tensor, h_inv: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """OBS cost of removing each group alone. weight: (out, in); h_inv: (in, in); groups: (n, g) column
    indices. Returns (n,)."""
    if groups.shape[1] == 1:  # single columns (feed-forward units): the 1x1 inverse is a division
        columns = groups[:, 0]
        return weight[:, columns].pow(2).sum(0) / torch.diagonal(h_inv)[columns]
    w = weight[:, groups]  # (out, n, g)
    blocks = h_inv[groups[:, :, None], groups[:, None, :]]  # (n, g, g)
    return torch.einsum("rng,ngk,rnk->n", w, torch.linalg.inv(blocks), w)


def remove_columns(weight: torch.Tensor, h_inv: torch.Tensor, columns: torch.Tensor) -> None:
    """Remove ``columns`` with the OBS update: compensate ``weight`` and downdate ``h_inv``, in place."""
    block_inv = torch.linalg.inv(h_inv[columns][:, columns])  # (g, g)
    rows_of_h_inv = h_inv[columns, :]  # (g, in)
    weight -= weight[:, columns] @ block_inv @ rows_of_h_inv
    h_inv -= h_inv[:, columns] @ block_inv @ rows_of_h_inv
    weight[:, columns] = 0.0  # exactly: the update leaves rounding residue there (and in earlier removals)


def obs_remove_groups(weight: torch.Tensor, hessian: torch.Tensor, groups: torch.Tensor, count: int, *,
                      greedy: bool = True, damping: float = DAMPING) -> tuple[torch.Tensor, list[int]]:
    """Remove ``count`` of the column ``groups`` (n, g) of ``weight`` (out, in) by OBS.

    Returns the compensated weight (removed columns zero; same dtype as ``weight``) and the
    removed group indices, ascending. Ties go to the lower index.
    """
    w = weight.to(torch.float64).clone()
    if count == 0:
        return weight.clone(), []
    h_inv = damped_inverse(hessian.to(w.device), damping)
    diagonal = _is_diagonal(h_inv)
    if greedy and not diagonal:
        removed = _greedy_removal(w, h_inv, groups, count)
    else:
        removed = _one_shot_removal(w, h_inv, groups, count, diagonal=diagonal)
    return w.to(weight.dtype), removed


def _greedy_removal(w: torch.Tensor, h_inv: torch.Tensor, groups: torch.Tensor, count: int) -> list[int]:
    """Remove the cheapest group, update, repeat ``count`` times; ``w`` and ``h_inv`` change in place."""
    alive = list(range(len(groups)))
    for _ in range(count):
        pick = alive.pop(int(torch.argmin(group_saliency(w, h_inv, groups[alive]))))
        remove_columns(w, h_inv, groups[pick])
    removed = sorted(set(range(len(groups))) - set(alive))
    w[:, groups[removed].reshape(-1)] = 0.0  # later updates leave rounding residue in earlier groups
    return removed


def _one_shot_removal(w: torch.Tensor, h_inv: torch.Tensor, groups: torch.Tensor, count: int, *,
                      diagonal: bool) -> list[int]:
    """Rank all groups once and remove the ``count`` cheapest together; ``w`` changes in place."""
    order = torch.sort(group_saliency(w, h_inv, groups), stable=True).indices
    removed = sorted(int(i) for i in order[:count])
    columns = groups[removed].reshape(-1)
    if diagonal:  # the update would subtract exact zeros from every other column: only zeroing is left
        w[:, columns] = 0.0
    else:
        remove_columns(w, h_inv, columns)
    return removed


def _is_diagonal(matrix: torch.Tensor) -> bool:
    """Whether ``matrix`` has no nonzero entry off its diagonal.

    Then greedy removal is one-shot removal, bit for bit: removing a group changes only its own
    columns of the weight and its own block of H^-1 (every other entry is updated by an exact
    zero), so the saliencies of the groups left never change and the greedy picks come out in
    one-shot's stable order. Magnitude (H = I) and input norms (a diagonal H) take this path:
    one update instead of one O(in^2) downdate per removed unit (5,120 units in an SD2 ff).
    """
    return torch.count_nonzero(matrix).item() == torch.count_nonzero(torch.diagonal(matrix)).item()
