"""Prune one component of a pipeline, in four steps:

1. the sparsity plan: one sparsity per layer (a plan module, `plans.<plan>`); layers
   an N:M pattern cannot cover are left dense;
2. the statistics of each sequential group of blocks (data-aware methods only),
   each group calibrated on inputs from the already-pruned groups before it;
3. the method, applied layer by layer;
4. the report, measured on the pruned component.

The `structured` pattern takes the same steps on whole units (`_prune_units`): no
plan (every transformer block loses the same fraction of its heads and feed-forward
units), statistics of the output projections only, the units chosen and the layers
sliced (`sdprune.pruning.structured`), and the pipeline's U-Net replaced by a
`SlicedUNet2DConditionModel` that records the slicing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Iterator, Mapping, Sequence

import torch
import torch.nn as nn
from tqdm.auto import tqdm

from sdprune.models.components import find_layers, get_component
from sdprune.pruning.accounting import component_summary
from sdprune.pruning.artifact import PruningArtifact
from sdprune.pruning.calibration import (
    CalibrationSettings,
    LayerStatistics,
    calibration_groups,
    collect_statistics,
    make_feed,
)
from sdprune.pruning.calibration.groups import last_block
from sdprune.pruning.calibration.replay import BlockReplay, chain_segments
from sdprune.pruning.masks import apply_mask, fits_pattern
from sdprune.pruning.methods import Method
from sdprune.pruning.plans import load_plan
from sdprune.pruning.spec import OwlSettings, PruneSpec
from sdprune.pruning.structured.pruner import UnitPruner
from sdprune.pruning.structured.sliced_unet import SlicedUNet2DConditionModel, UNet2DConditionModel
from sdprune.pruning.structured.units import unit_counts

# Still imported from here by the workflow and the CLI.
__all__ = ["PrunedComponent", "prune_component"]

log = logging.getLogger(__name__)


@dataclass
class PrunedComponent:
    artifact: PruningArtifact
    report: dict = field(default_factory=dict)


@dataclass
class _Target:
    """One component being pruned, and the calibration data every step may need."""

    pipe: object
    component: str
    module: nn.Module
    layers: dict[str, nn.Module]
    prompts: Sequence[str]
    calibration: CalibrationSettings
    dense_norms: Mapping[str, LayerStatistics] | None = None

    def feed(self):
        return make_feed(self.pipe, self.component, self.calibration, self.prompts)

    def has_dense_norms(self, names) -> bool:
        """Dense input norms of every layer in ``names`` are at hand (only norms: never a Hessian)."""
        dense = self.dense_norms
        return dense is not None and all(n in dense and dense[n].kind == "norms" for n in names)

    def collect_dense_norms(self) -> Mapping[str, LayerStatistics]:
        """The dense model's input norms of all layers; collected once, then kept."""
        if not self.has_dense_norms(self.layers):
            self.dense_norms = collect_statistics(self.layers, self.feed(), kind="norms")
        return self.dense_norms


@torch.no_grad()
def prune_component(
    pipe,
    component: str,
    spec: PruneSpec,
    *,
    prompts: Sequence[str] = (),
    calibration: CalibrationSettings | None = None,
    owl: OwlSettings = OwlSettings(),
    dense_statistics: Mapping[str, LayerStatistics] | None = None,
    layer_sparsity: Mapping[str, float] | None = None,
) -> PrunedComponent:
    """Prune ``pipe.<component>`` in place and return the artifact and a measured report.

    ``dense_statistics`` (input norms from the calibrate stage) stand in for the
    dense model's norms an OWL plan reads and for the first group's collection of
    a norms method; ``layer_sparsity`` overrides the uniform plan's per-layer sparsity.
    Under the structured pattern, ``pipe.unet`` is replaced by its sliced copy.
    """
    started = time.perf_counter()
    module = get_component(pipe, component)
    target = _Target(pipe, component, module, {}, list(prompts), calibration or spec.choice.method.calibration_for(component, CalibrationSettings()),
                     dense_statistics)
    if spec.pattern.sliced:
        if layer_sparsity:
            raise ValueError("the structured pattern removes the same fraction of units in every block")
        return _prune_units(spec, target, started)
    layers, skipped = _target_layers(module, component, spec)
    target.layers = layers
    plan, outlier_ratios = load_plan(spec.choice.plan).plan_layers(  # step 1
        module, component, layers, spec, dense_norms=target.collect_dense_norms, owl=owl,
        layer_sparsity=layer_sparsity)
    pruner = _LayerPruner(spec.choice.method, spec, plan)
    for names, stats in _group_statistics(target, spec.choice.method):  # step 2
        pruner.prune(layers, names, stats)  # step 3
        del stats
    report = _report(component, module, spec, plan, outlier_ratios, skipped, started)  # step 4
    return PrunedComponent(PruningArtifact(component, pruner.masks, pruner.values), report)


def _target_layers(module: nn.Module, component: str, spec: PruneSpec) -> tuple[dict[str, nn.Module], list[str]]:
    """The layers to prune, and those of the scope left dense because N:M cannot cover their inputs."""
    layers = find_layers(module, spec.scope)
    if not layers:
        raise ValueError(f"{component} has no {spec.scope} layers to prune")
    skipped = [n for n, layer in layers.items() if not fits_pattern(layer.weight[0].numel(), spec.pattern)]
    for name in skipped:
        log.warning("%s: %d inputs is not a multiple of %d; left dense", name, layers[name].weight[0].numel(),
                    spec.pattern.m)
    return {n: layer for n, layer in layers.items() if n not in skipped}, sorted(skipped)


def _group_statistics(target: _Target, method: Method) -> Iterator[tuple[list[str], Mapping | None]]:
    """(layer names, their statistics) per sequential group; all layers at once for a data-free method.

    Each group's statistics are collected only when the groups before it are pruned,
    so they see the already-pruned model. The first group of a norms method reuses
    the dense norms where all of them are at hand.
    """
    names = list(target.layers)
    if method.statistics is None:
        yield names, None
        return
    calibration = target.calibration
    groups = calibration_groups(target.module, target.component, names, calibration.groups) \
        if calibration.sequential else [names]
    # The text encoder's blocks are a chain: each group replays its first block's kept inputs (`BlockReplay`)
    # instead of re-running the model from its start. The U-Net's are not (skip connections, the sampling loop).
    segments = chain_segments(target.module, target.component, groups) if target.component == "text_encoder" else None
    feed, replay = None, None
    for index, group in enumerate(tqdm(groups, desc=f"prune {target.component}", unit="group")):
        layers = {n: target.layers[n] for n in group}
        if index == 0 and method.statistics == "norms" and target.has_dense_norms(group):
            yield group, {n: target.dense_norms[n] for n in group}
        elif segments is not None:
            replay = replay or BlockReplay(target.feed(), segments[index][0])  # inputs from the groups pruned so far
            yield group, collect_statistics(layers, replay.feed(segments[index]), kind=method.statistics)
            if index + 1 < len(groups):  # the group is pruned now: its outputs are the next group's inputs
                replay.advance(segments[index])
        else:
            feed = feed or target.feed()
            stop = last_block(target.module, target.component, group) if target.component == "text_encoder" else None
            yield group, collect_statistics(layers, feed, kind=method.statistics, stop_after=stop)


class _LayerPruner:
    """Applies a method to layers in place and keeps their masks (and values, if the method updates them)."""

    def __init__(self, method: Method, spec: PruneSpec, plan: Mapping[str, float]):
        self.method, self.pattern, self.plan = method, spec.pattern, plan
        self.masks: dict[str, torch.Tensor] = {}
        self.values: dict[str, torch.Tensor] = {}

    def prune(self, layers: Mapping[str, nn.Module], names: Sequence[str], stats: Mapping | None) -> None:
        for name in names:
            weight = layers[name].weight
            arguments = (weight.float().reshape(weight.shape[0], -1), stats[name] if stats is not None else None,
                         self.plan[name], self.pattern)
            if self.method.select_mask is not None:  # in place: no second copy of the weight (bits as `apply_mask`'s)
                mask = self.method.select_mask(*arguments).reshape(weight.shape)
                weight.masked_fill_(~mask, 0)
            else:
                new_weight, mask = self.method.prune_layer(*arguments)
                mask = mask.reshape(weight.shape)
                weight.copy_(apply_mask(new_weight.reshape(weight.shape).to(weight.dtype), mask))
                if self.method.updates_weights:
                    self.values[name] = weight[mask].cpu()
            self.masks[name] = mask.cpu()


def _report(component: str, module: nn.Module, spec: PruneSpec, plan: Mapping[str, float], outlier_ratios,
            skipped: list[str], started: float) -> dict:
    summary = component_summary(module, find_layers(module, spec.scope), requested=spec.sparsity)
    log.info("%s %s: requested %.4f, realised %.4f over %d layers", component, spec.method,
             spec.sparsity, summary["realised_sparsity"], len(plan))
    return {
        "component": component,
        "method": spec.method,
        "pattern": str(spec.pattern),
        "scope": spec.scope,
        "planned_layer_sparsity": dict(plan),
        "owl_outlier_ratios": outlier_ratios,
        "skipped_layers": skipped,
        **summary,
        "seconds": time.perf_counter() - started,
    }


def _prune_units(spec: PruneSpec, target: _Target, started: float) -> PrunedComponent:
    """The structured pattern: units chosen and sliced group by group, then the U-Net swapped for its sliced class."""
    pipe, component, module = target.pipe, target.component, target.module
    if not isinstance(module, UNet2DConditionModel):
        raise ValueError(f"the structured pattern slices the U-Net's transformer blocks, not the {component}")
    dense = {"params": sum(p.numel() for p in module.parameters()), **unit_counts(module)}
    pruner = UnitPruner(module, spec.sparsity)
    target.layers = pruner.projections()
    for names, stats in _group_statistics(target, spec.choice.method):
        pruner.prune(names, stats)
        del stats
    sliced = SlicedUNet2DConditionModel.from_sliced(module, pruner.removed)
    pipe.register_modules(**{component: sliced})
    artifact = PruningArtifact(component, {}, removed_units=pruner.removed, weights=pruner.weights)
    return PrunedComponent(artifact, _units_report(component, sliced, spec, dense, pruner, started))


def _units_report(component: str, module: nn.Module, spec: PruneSpec, dense: dict, pruner: UnitPruner,
                  started: float) -> dict:
    """Parameters and units before and after; the summary counts the weights sliced away against the dense
    shapes, so its `realised_sparsity` is the fraction of the scope's weights removed."""
    summary = component_summary(module, find_layers(module, spec.scope), requested=spec.sparsity)
    after = {"params": sum(p.numel() for p in module.parameters()), **unit_counts(module)}
    log.info("%s %s structured: %d -> %d parameters, %d -> %d heads, %d -> %d feed-forward units", component,
             spec.method, dense["params"], after["params"], dense["heads"], after["heads"], dense["ff_units"],
             after["ff_units"])
    return {
        "component": component,
        "method": spec.method,
        "pattern": str(spec.pattern),
        "scope": spec.scope,
        "planned_layer_sparsity": {name: spec.sparsity for name in pruner.units},
        "owl_outlier_ratios": {},
        "skipped_layers": [],
        **summary,
        "params_before": dense["params"],
        "params_after": after["params"],
        "units_before": {"heads": dense["heads"], "ff_units": dense["ff_units"]},
        "units_after": {"heads": after["heads"], "ff_units": after["ff_units"]},
        "removed_units": pruner.removed,
        "seconds": time.perf_counter() - started,
    }
