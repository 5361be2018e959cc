"""Weighted input statistics of one layer, and their safetensors form.

Each kind lives in its own module, `sdprune.pruning.calibration.<kind>`, imported
only when that kind is collected or loaded: a prune that reads input norms
(Wanda, OWL) never imports the Hessian code, and one that reads a Hessian
(SparseGPT) never imports the norms code, so each method's code fingerprint
holds only what it runs.
"""

from __future__ import annotations

import importlib
from typing import Mapping

import torch

STATISTIC_KINDS = ("norms", "hessian")


def accumulator_class(kind: str) -> type["LayerStatistics"]:
    """The accumulator of a statistics kind, imported by name on first use."""
    if kind not in STATISTIC_KINDS:
        raise ValueError(f"unknown statistics kind {kind!r}; expected one of {', '.join(STATISTIC_KINDS)}")
    return importlib.import_module(f"sdprune.pruning.calibration.{kind}").ACCUMULATOR


class LayerStatistics:
    """Inputs of one layer, accumulated batch by batch with a weight per batch.

    ``weight_sum = sum_t w_t * rows_t`` normalises any kind. ``LayerStatistics(n, kind)``
    builds the accumulator of that kind (so callers need not know where it lives).
    """

    kind: str = ""

    def __new__(cls, in_features: int, kind: str | None = None, device: torch.device | str = "cpu"):
        if cls is LayerStatistics:
            cls = accumulator_class(kind)
        return super().__new__(cls)

    def __init__(self, in_features: int, kind: str | None = None, device: torch.device | str = "cpu"):
        if kind is not None and kind != self.kind:
            raise ValueError(f"a {self.kind} accumulator cannot collect {kind!r}")
        self.in_features = in_features
        self.weight_sum = 0.0
        self.rows = 0
        self._allocate(device)

    def _allocate(self, device: torch.device | str) -> None:
        raise NotImplementedError

    def _accumulate(self, rows: torch.Tensor, weight: float) -> None:
        raise NotImplementedError

    def _column_sum_sq(self) -> torch.Tensor:
        """sum_t w_t * sum_rows x_j^2 per input column, (in_features,)."""
        raise NotImplementedError

    @property
    def data(self) -> torch.Tensor:
        """The accumulated tensor, saved under ``<layer>.<kind>``."""
        raise NotImplementedError

    def add_batch(self, rows: torch.Tensor, weight: float = 1.0) -> None:
        """rows: (N, in_features) inputs, one row per token/pixel."""
        rows = rows.to(torch.float32)
        self._accumulate(rows, weight)
        self.weight_sum += weight * rows.shape[0]
        self.rows += rows.shape[0]

    def column_norms(self) -> torch.Tensor:
        """||X_j||_2 per input column, (in_features,) float32."""
        raise NotImplementedError

    def column_rms(self) -> torch.Tensor:
        """Root mean square of each input column over the (weighted) rows, (in_features,) float32.

        A per-row statistic: it does not grow with how many rows a layer saw, so
        layers that see different numbers of tokens (image tokens, 77 text tokens,
        one time embedding) can be compared, as OWL does across a U-Net block.
        """
        mean_square = self._column_sum_sq().double() / max(self.weight_sum, 1e-12)
        return mean_square.sqrt().to(torch.float32)

    def hessian(self) -> torch.Tensor:
        raise ValueError(f"this accumulator collected {self.kind}, not a Hessian")

    def to_tensors(self, prefix: str) -> dict[str, torch.Tensor]:
        return {
            f"{prefix}.{self.kind}": self.data,
            f"{prefix}.weight_sum": torch.tensor([self.weight_sum], dtype=torch.float64),
            f"{prefix}.rows": torch.tensor([self.rows], dtype=torch.int64),
        }

    @classmethod
    def from_tensors(cls, tensors: Mapping[str, torch.Tensor], prefix: str) -> "LayerStatistics":
        kind = "norms" if f"{prefix}.norms" in tensors else "hessian"
        data = tensors[f"{prefix}.{kind}"]
        stats = LayerStatistics(data.shape[0], kind, device=data.device)
        stats._restore(data)
        stats.weight_sum = float(tensors[f"{prefix}.weight_sum"].item())
        stats.rows = int(tensors[f"{prefix}.rows"].item())
        return stats

    def _restore(self, data: torch.Tensor) -> None:
        raise NotImplementedError


def save_statistics(stats: Mapping[str, LayerStatistics]) -> dict[str, torch.Tensor]:
    tensors: dict[str, torch.Tensor] = {}
    for name, layer_stats in stats.items():
        tensors.update(layer_stats.to_tensors(name))
    return tensors


def load_statistics(tensors: Mapping[str, torch.Tensor]) -> dict[str, LayerStatistics]:
    prefixes = {key.rsplit(".", 1)[0] for key in tensors if key.endswith(".rows")}
    return {prefix: LayerStatistics.from_tensors(tensors, prefix) for prefix in sorted(prefixes)}
