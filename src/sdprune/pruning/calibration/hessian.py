"""X^T X: what SparseGPT reads (its H = 2 X^T X / n, the OBS Hessian of the layer's loss).

``xtx = sum_t w_t * X_t^T X_t``, float32, on the device the rows come from.
"""

from __future__ import annotations

import torch

from sdprune.pruning.calibration.statistics import LayerStatistics


class HessianStatistics(LayerStatistics):
    kind = "hessian"

    def _allocate(self, device: torch.device | str) -> None:
        self.xtx = torch.zeros(self.in_features, self.in_features, dtype=torch.float32, device=device)

    def _accumulate(self, rows: torch.Tensor, weight: float) -> None:
        rows = rows.to(self.xtx.device)
        self.xtx.addmm_(rows.T, rows, alpha=weight)

    def _column_sum_sq(self) -> torch.Tensor:
        return torch.diagonal(self.xtx).clamp_min(0)

    def _restore(self, data: torch.Tensor) -> None:
        self.xtx = data.to(torch.float32)

    @property
    def data(self) -> torch.Tensor:
        return self.xtx

    def column_norms(self) -> torch.Tensor:
        return self._column_sum_sq().sqrt()

    def hessian(self) -> torch.Tensor:
        """H = 2 X^T X / sum(w * rows), (in_features, in_features) float32."""
        return self.xtx * (2.0 / max(self.weight_sum, 1e-12))


ACCUMULATOR = HessianStatistics
