"""Input norms: what Wanda and OWL read.

``sum_sq[j] = sum_t w_t * sum_rows x_j^2`` (Wanda's ||X_j||_2^2, weighted), float64
so that many small squares add up without loss.
"""

from __future__ import annotations

import torch

from sdprune.pruning.calibration.statistics import LayerStatistics


class NormStatistics(LayerStatistics):
    kind = "norms"

    def _allocate(self, device: torch.device | str) -> None:
        self.sum_sq = torch.zeros(self.in_features, dtype=torch.float64, device=device)

    def _accumulate(self, rows: torch.Tensor, weight: float) -> None:
        self.sum_sq += weight * rows.pow(2).sum(dim=0, dtype=torch.float64).to(self.sum_sq.device)

    def _column_sum_sq(self) -> torch.Tensor:
        return self.sum_sq

    def _restore(self, data: torch.Tensor) -> None:
        self.sum_sq = data.to(torch.float64)

    @property
    def data(self) -> torch.Tensor:
        return self.sum_sq

    def column_norms(self) -> torch.Tensor:
        return self.sum_sq.sqrt().to(torch.float32)


ACCUMULATOR = NormStatistics
