"""Pruning methods, registered by name.

A method turns one layer's weight (and, if it needs them, that layer's input
statistics) into a keep-mask, and may update the weights it keeps (SparseGPT).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ..calibration import LayerStatistics
from ..masks import Pattern

# (weight (out, in) float32, statistics or None, sparsity, pattern) -> (new weight, keep-mask)
LayerPruner = Callable[[torch.Tensor, "LayerStatistics | None", float, Pattern], "tuple[torch.Tensor, torch.Tensor]"]


@dataclass(frozen=True)
class Method:
    name: str
    statistics: str | None  # None (data-free), "norms" or "hessian"
    prune_layer: LayerPruner
    updates_weights: bool = False  # True if kept weights change (the artifact then stores values)
    description: str = ""


_REGISTRY: dict[str, Method] = {}


def register(method: Method) -> Method:
    if method.name in _REGISTRY:
        raise ValueError(f"method {method.name!r} registered twice")
    _REGISTRY[method.name] = method
    return method


def get_method(name: str) -> Method:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown pruning method {name!r}; known: {', '.join(available_methods())}") from None


def available_methods() -> list[str]:
    return sorted(_REGISTRY)


from . import magnitude, wanda  # noqa: E402,F401  (registration side effect)
