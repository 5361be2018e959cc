"""The uniform plan: every layer at the requested sparsity, unless a per-layer override says otherwise."""

from __future__ import annotations

from typing import Callable, Mapping

import torch.nn as nn

from sdprune.pruning.spec import OwlSettings, PruneSpec


def plan_layers(module: nn.Module, component: str, layers: Mapping[str, nn.Module], spec: PruneSpec, *,
                dense_norms: Callable[[], Mapping], owl: OwlSettings,
                layer_sparsity: Mapping[str, float] | None = None) -> tuple[dict[str, float], None]:
    overrides = layer_sparsity or {}
    return {name: overrides.get(name, spec.sparsity) for name in layers}, None
