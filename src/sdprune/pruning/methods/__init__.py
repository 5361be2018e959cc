"""Pruning methods, found by name and imported only when used.

A method turns one layer's weight (and, if it needs them, that layer's input
statistics) into a keep-mask, and may update the weights it keeps (SparseGPT).
Each method is a module of this package defining ``METHOD = Method(...)``. The
registry lists the modules without importing them, so importing it (or a module
that only names methods) does not depend on any method's code: a stage's code
fingerprint then covers exactly the methods it runs (see `runtime_modules`).
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import pkgutil
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import torch

from sdprune.pruning.masks import Pattern

if TYPE_CHECKING:  # annotation only: importing calibration here would tie every method user to it
    from sdprune.pruning.calibration import CalibrationSettings, LayerStatistics

# (weight (out, in) float32, statistics or None, sparsity, pattern) -> (new weight, keep-mask)
LayerPruner = Callable[[torch.Tensor, "LayerStatistics | None", float, Pattern], "tuple[torch.Tensor, torch.Tensor]"]
# The same arguments -> keep-mask alone, for methods that leave kept weights as they are
MaskSelector = Callable[[torch.Tensor, "LayerStatistics | None", float, Pattern], torch.Tensor]


@dataclass(frozen=True)
class Method:
    name: str
    statistics: str | None  # None (data-free), "norms" or "hessian"
    prune_layer: LayerPruner
    updates_weights: bool = False  # True if kept weights change (the artifact then stores values)
    description: str = ""
    # The layer scope a config grid that names no `layers` gets (OBS-Diff's: transformer);
    # None: the config's `pruning.layers`.
    default_scope: str | None = None
    # The method's own calibration over a caller's defaults (component, base) -> settings; None: the base.
    # The workflow applies it from the config; the CLI and library callers without settings get it here.
    own_calibration: "Callable[[CalibrationSettings, str], CalibrationSettings] | None" = None
    # A mask-only method's mask without the pruned copy `prune_layer` returns: the driver zeroes the
    # weight in place, so a layer costs the selection and one fill (magnitude was 7x that floor).
    select_mask: MaskSelector | None = None

    def calibration_for(self, component: str, base: "CalibrationSettings") -> "CalibrationSettings":
        """``base`` with what this method sets for itself (obs_diff: the U-Net's step weighting and groups)."""
        return self.own_calibration(base, component) if self.own_calibration else base


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

    @property
    def reuses_dense_norms(self) -> bool:
        """Whether the dense model's input norms (the calibrate stage's output) serve this choice:
        Wanda scores its first group with them, an OWL plan is made from them. SparseGPT's Hessians are not norms."""
        return self.method.statistics == "norms" or self.plan == "owl"


def base_methods() -> list[str]:
    """The method modules of this package, by name, none of them imported."""
    return sorted(info.name for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_"))


def get_method(name: str) -> Method:
    """A base method by name (no plan prefix); imports its module."""
    if name not in base_methods():
        raise ValueError(f"unknown pruning method {name!r}; known: {', '.join(available_methods())}")
    method = importlib.import_module(f"{__name__}.{name}").METHOD
    if method.name != name:
        raise ValueError(f"module {__name__}.{name} defines method {method.name!r}; a method's module bears its name")
    return method


def _split_plan(name: str) -> tuple[str, str]:
    """`owl_magnitude` -> ("owl", "magnitude"); `wanda` -> ("uniform", "wanda")."""
    plan, _, base = name.partition("_")
    return (plan, base) if plan in PLANS and base else ("uniform", name)


def parse_method(name: str) -> MethodChoice:
    """`wanda` -> uniform plan + Wanda; `owl_magnitude` -> OWL plan + magnitude."""
    plan, base = _split_plan(name)
    return MethodChoice(name, plan, get_method(base))


def available_methods() -> list[str]:
    bases = base_methods()
    return bases + [f"{plan}_{base}" for plan in PLANS for base in bases]


def runtime_modules(method_name: str) -> list[str]:
    """The modules a prune with ``method_name`` imports on demand (beyond what its script imports):
    the base method's module, the plan's module and the statistics accumulator's, those that exist."""
    choice = parse_method(method_name)
    candidates = [f"{__name__}.{choice.method.name}", f"sdprune.pruning.plans.{choice.plan}"]
    if choice.statistics:
        candidates.append(f"sdprune.pruning.calibration.{choice.statistics}")
    return [module for module in candidates if _module_exists(module)]


def _module_exists(module: str) -> bool:
    """Whether ``module`` can be found, importing none of its packages below sdprune.pruning
    (`find_spec` of a submodule would import its parent, here the calibration code)."""
    parent, _, leaf = module.rpartition(".")
    package = importlib.util.find_spec(parent)  # its parent, sdprune.pruning, is imported already
    if package is None or package.submodule_search_locations is None:  # absent, or a plain module
        return False
    return importlib.machinery.PathFinder.find_spec(leaf, package.submodule_search_locations) is not None
