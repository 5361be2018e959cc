"""Prune one component of a pipeline: plan, calibrate, prune, measure.

Data-aware methods prune *in sequence*: layers are split into ordered groups of
blocks; each group is calibrated on inputs produced by the already-pruned groups
before it (the paper's code does this block by block for the text encoder).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import torch
import torch.nn as nn
from tqdm.auto import tqdm

from sdprune.pruning.accounting import component_summary
from sdprune.pruning.artifact import PruningArtifact
from sdprune.pruning.calibration import DenoisingFeed, LayerStatistics, TextEncoderFeed, collect_statistics
from sdprune.pruning.masks import UNSTRUCTURED, Pattern, apply_mask
from sdprune.pruning.allocation import OWL_LAMBDA, OWL_M, OwlSettings, outlier_ratio, owl_plan
from sdprune.pruning.spec import PruneSpec
from sdprune.pruning.methods.wanda import wanda_scores
from sdprune.models.components import block_of, execution_blocks, find_layers, get_component
from sdprune.seeding import derive_calibration_seed

log = logging.getLogger(__name__)


@dataclass
class CalibrationSettings:
    """How calibration data is fed. Defaults follow the paper's code."""

    max_length: int = 77  # pad every prompt to this many tokens
    count_padding: bool = True  # padding positions count in the statistics
    batch_size: int = 1  # one prompt per forward
    sequential: bool = True  # calibrate each group on the already-pruned model
    groups: int = 0  # 0: one group per block
    # U-Net only: the denoising loop the statistics are collected over
    num_steps: int = 25
    guidance_scale: float = 7.5
    timestep_weighting: str = "uniform"
    height: int | None = None
    width: int | None = None
    seed: int = 0


@dataclass
class PrunedComponent:
    artifact: PruningArtifact
    report: dict = field(default_factory=dict)


def make_feed(pipe, component: str, calibration: CalibrationSettings, prompts: Sequence[str]):
    """The calibration feed for a component: text-encoder forwards or denoising loops."""
    prompts = list(prompts)
    if not prompts:
        raise ValueError("this method needs calibration prompts, and none were given")
    if component == "text_encoder":
        tokens = pipe.tokenizer(
            prompts, padding="max_length", max_length=calibration.max_length, truncation=True, return_tensors="pt"
        )
        return TextEncoderFeed(
            pipe.text_encoder, tokens.input_ids, tokens.attention_mask,
            batch_size=calibration.batch_size, count_padding=calibration.count_padding,
        )
    pipe.set_progress_bar_config(disable=True)
    return DenoisingFeed(
        pipe, prompts,
        num_steps=calibration.num_steps,
        guidance_scale=calibration.guidance_scale,
        # Not the evaluation images' seeds: calibration must not denoise from their starting noise.
        seeds=[derive_calibration_seed(calibration.seed, i) for i in range(len(prompts))],
        weighting=calibration.timestep_weighting,
        batch_size=calibration.batch_size,
        height=calibration.height,
        width=calibration.width,
    )


def calibration_groups(module: nn.Module, component: str, layer_names: Sequence[str], groups: int) -> list[list[str]]:
    """Split layers into ordered groups of whole blocks (0 groups: one per block)."""
    blocks = execution_blocks(module, component)
    module_order = {name: i for i, (name, _) in enumerate(module.named_modules())}
    first_block_pos = module_order[blocks[0]] if blocks else 0
    by_block: dict[str, list[str]] = {b: [] for b in blocks}
    before, after = [], []
    for name in layer_names:
        block = block_of(name, blocks)
        if block is not None:
            by_block[block].append(name)
        elif module_order[name] < first_block_pos:
            before.append(name)  # e.g. conv_in
        else:
            after.append(name)  # e.g. conv_out
    units = [layers for layers in by_block.values() if layers]
    if before:
        units.insert(0, before)
    if after:
        units.append(after)
    if groups <= 0 or groups >= len(units):
        return units
    # Contiguous chunks with about the same number of layers each.
    total = sum(len(u) for u in units)
    chunks, current, done = [], [], 0
    for unit in units:
        current.extend(unit)
        done += len(unit)
        if done >= total * (len(chunks) + 1) / groups and len(chunks) < groups - 1:
            chunks.append(current)
            current = []
    if current:
        chunks.append(current)
    return chunks


def owl_layer_sparsity(module: nn.Module, component: str, layers: Mapping[str, nn.Module],
                       stats: Mapping[str, LayerStatistics], target: float, *, m: float = OWL_M,
                       lam: float = OWL_LAMBDA) -> tuple[dict[str, float], dict[str, float]]:
    """OWL's plan for a component: one sparsity per block, from the dense model's Wanda scores.

    The scores pool the layers of a block, so they use each input column's RMS over
    rows, not its norm: in a U-Net block, layers see different numbers of rows
    (image tokens, 77 text tokens, one time embedding), and norms would make the
    outlier ratio a token count. Where every layer sees the same rows (the text
    encoder) the two differ by one factor per block, and the ratio is the same.

    Returns (layer -> sparsity, block -> outlier ratio).
    """
    units = calibration_groups(module, component, list(layers), 0)  # one unit per block
    ratios, sizes = [], []
    for unit in units:
        scores = [wanda_scores(layers[n].weight.float().reshape(layers[n].weight.shape[0], -1),
                               stats[n].column_rms()) for n in unit]
        ratios.append(outlier_ratio(scores, m))
        sizes.append(sum(layers[n].weight.numel() for n in unit))
    plan = owl_plan(ratios, target, lam=lam, sizes=sizes)
    per_layer = {n: sparsity for unit, sparsity in zip(units, plan) for n in unit}
    per_block = {_unit_name(module, component, unit): ratio for unit, ratio in zip(units, ratios)}
    return per_layer, per_block


def _unit_name(module: nn.Module, component: str, unit: Sequence[str]) -> str:
    return block_of(unit[0], execution_blocks(module, component)) or unit[0]


def _last_block(module: nn.Module, component: str, names: Sequence[str]) -> nn.Module | None:
    blocks = [block_of(n, execution_blocks(module, component)) for n in names]
    blocks = [b for b in blocks if b is not None]
    return module.get_submodule(blocks[-1]) if blocks else None


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

    ``dense_statistics`` (from the calibrate stage) stand in for the first group's
    collection; ``layer_sparsity`` overrides the uniform per-layer sparsity (OWL plans).
    """
    started = time.perf_counter()
    choice = spec.choice
    method = choice.method
    module = get_component(pipe, component)
    layers = find_layers(module, spec.scope)
    if not layers:
        raise ValueError(f"{component} has no {spec.scope} layers to prune")
    skipped = {}
    if spec.pattern.structured:  # N:M needs whole groups of M inputs
        skipped = {n: l for n, l in layers.items() if (l.weight[0].numel()) % spec.pattern.m}
        for name in skipped:
            log.warning("%s: %d inputs is not a multiple of %d; left dense", name, layers[name].weight[0].numel(),
                        spec.pattern.m)
        layers = {n: l for n, l in layers.items() if n not in skipped}
    calibration = calibration or CalibrationSettings()
    outlier_ratios = None
    if choice.plan == "owl":
        if spec.pattern.structured:
            raise ValueError("an OWL plan varies sparsity per layer; an N:M pattern fixes it")
        if dense_statistics is None or not all(n in dense_statistics for n in layers):
            dense_statistics = collect_statistics(layers, make_feed(pipe, component, calibration, prompts), kind="norms")
        layer_sparsity, outlier_ratios = owl_layer_sparsity(
            module, component, layers, dense_statistics, spec.sparsity, m=owl.m, lam=owl.lam)
    plan = {name: (layer_sparsity or {}).get(name, spec.sparsity) for name in layers}
    masks: dict[str, torch.Tensor] = {}
    values: dict[str, torch.Tensor] = {}

    def prune_layers(names: Sequence[str], stats: Mapping[str, LayerStatistics] | None) -> None:
        for name in names:
            layer = layers[name]
            weight = layer.weight
            new_weight, mask = method.prune_layer(
                weight.float().reshape(weight.shape[0], -1),
                stats[name] if stats is not None else None,
                plan[name],
                spec.pattern,
            )
            mask = mask.reshape(weight.shape)
            if method.updates_weights:
                weight.copy_(apply_mask(new_weight.reshape(weight.shape).to(weight.dtype), mask))
                values[name] = weight[mask].cpu()
            else:
                weight.copy_(apply_mask(weight, mask))
            masks[name] = mask.cpu()

    if method.statistics is None:
        prune_layers(list(layers), None)
    else:
        names = list(layers)
        groups = calibration_groups(module, component, names, calibration.groups) if calibration.sequential else [names]
        feed = None
        for index, group in enumerate(tqdm(groups, desc=f"prune {component}", unit="group")):
            reusable = index == 0 and dense_statistics is not None and method.statistics == "norms"
            if reusable and all(n in dense_statistics for n in group):
                stats = {n: dense_statistics[n] for n in group}
            else:
                feed = feed or make_feed(pipe, component, calibration, prompts)
                stop = _last_block(module, component, group) if component == "text_encoder" else None
                stats = collect_statistics({n: layers[n] for n in group}, feed, kind=method.statistics, stop_after=stop)
            prune_layers(group, stats)
            del stats

    summary = component_summary(module, find_layers(module, spec.scope), requested=spec.sparsity)
    report = {
        "component": component,
        "method": spec.method,
        "pattern": str(spec.pattern),
        "scope": spec.scope,
        "planned_layer_sparsity": plan,
        "owl_outlier_ratios": outlier_ratios,
        "skipped_layers": sorted(skipped),
        **summary,
        "seconds": time.perf_counter() - started,
    }
    log.info("%s %s: requested %.4f, realised %.4f over %d layers", component, spec.method,
             spec.sparsity, summary["realised_sparsity"], len(layers))
    return PrunedComponent(PruningArtifact(component, masks, values), report)
