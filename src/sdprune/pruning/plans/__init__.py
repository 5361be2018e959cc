"""Per-layer sparsity plans, one module each, loaded by name.

Every plan module exposes the same function::

    plan_layers(module, component, layers, spec, *, dense_norms, owl, layer_sparsity)
        -> (layer -> sparsity, block -> outlier ratio or None)

``dense_norms()`` returns the dense model's input norms of ``layers``, collected
on first call: a plan that needs none never runs the model for them. Plans are
imported lazily (`sdprune.pruning.plans.<plan>`), so a uniform prune never imports
OWL (nor the Wanda scores OWL reads), and its code fingerprint holds only what it runs.
"""

from __future__ import annotations

import importlib
from types import ModuleType

PLAN_NAMES = ("uniform", "owl")


def load_plan(name: str) -> ModuleType:
    if name not in PLAN_NAMES:
        raise ValueError(f"unknown sparsity plan {name!r}; expected one of {', '.join(PLAN_NAMES)}")
    return importlib.import_module(f"sdprune.pruning.plans.{name}")
