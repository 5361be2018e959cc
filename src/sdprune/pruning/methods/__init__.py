"""Pruning methods, registered by name.

A method turns one layer's weight (and, if it needs them, that layer's input
statistics) into a keep-mask, and may update the weights it keeps (SparseGPT).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from sdprune.pruning.calibration import LayerStatistics
from sdprune.pruning.masks import Pattern

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


PLANS = ("owl",)  # per-layer sparsity plans a method name can be prefixed with: owl_wanda


@dataclass(frozen=True)
class MethodChoice:
    """A method name as written in a config: an optional per-layer plan and a base method."""

    name: str
    plan: str  # "uniform" or "owl"
    method: Method

    @property
    def statistics(self) -> str | None:
        """What calibration must collect. An OWL plan needs input norms even over magnitude."""
        return self.method.statistics or ("norms" if self.plan == "owl" else None)


def get_method(name: str) -> Method:
    """A base method by name (no plan prefix)."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown pruning method {name!r}; known: {', '.join(available_methods())}") from None


def parse_method(name: str) -> MethodChoice:
    """`wanda` -> uniform plan + Wanda; `owl_magnitude` -> OWL plan + magnitude."""
    plan, _, base = name.partition("_")
    if plan in PLANS and base:
        return MethodChoice(name, plan, get_method(base))
    return MethodChoice(name, "uniform", get_method(name))


def available_methods() -> list[str]:
    return sorted(_REGISTRY) + [f"{plan}_{base}" for plan in PLANS for base in sorted(_REGISTRY)]


from sdprune.pruning.methods import magnitude, sparsegpt, wanda  # noqa: E402,F401  (registration side effect)
