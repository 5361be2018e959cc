"""Sparsity accounting: requested, realised, the paper's nominal, and the true full-model figure.

The paper's "full model sparsity" weighs each component's sparsity by the
component's *total* parameter count, although only its Linear weights are
pruned; the true fraction of zeros is smaller (its 38.5 % zeroes 20.1 %).
Every report carries both so nobody mistakes one for the other.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import torch
import torch.nn as nn


def _count_nonzero(weight: torch.Tensor) -> int:
    """Nonzeros without a bool copy; NumPy's single SIMD pass on a float32 CPU weight measured 2x
    torch.count_nonzero (10 vs 21 ms on a 13 M-weight matrix), which NumPy cannot read in half precision."""
    if weight.device.type == "cpu" and weight.dtype in (torch.float32, torch.float64):
        return int(np.count_nonzero(weight.detach().numpy()))
    return int(torch.count_nonzero(weight))


@torch.no_grad()
def measure_layers(layers: Mapping[str, nn.Module]) -> dict[str, dict]:
    """Zeros actually present in each layer's weight."""
    report = {}
    for name, layer in layers.items():
        weight = layer.weight
        zeros = weight.numel() - _count_nonzero(weight)
        report[name] = {"shape": list(weight.shape), "numel": weight.numel(), "zeros": zeros,
                        "sparsity": zeros / weight.numel()}
    return report


def component_summary(
    module: nn.Module,
    layers: Mapping[str, nn.Module],
    *,
    requested: float,
) -> dict:
    """Realised sparsity of one component over its target layers, with the counts behind it.

    Weights a structured prune sliced away count as pruned, against the dense shapes: a sliced
    U-Net's sparsity is what it lost, not the zeros left in what it kept.
    """
    per_layer = measure_layers(layers)
    sliced = sliced_weights(module, layers)
    target = sum(item["numel"] for item in per_layer.values()) + sliced["weights"]
    zeros = sum(item["zeros"] for item in per_layer.values()) + sliced["weights"]
    total = sum(p.numel() for p in module.parameters()) + sliced["params"]
    return {
        "requested_sparsity": requested,
        "realised_sparsity": zeros / target if target else 0.0,
        "target_weights": target,
        "zeros": zeros,
        "sliced_weights": sliced["weights"],
        "total_params": total,
        "zero_fraction_of_component": zeros / total if total else 0.0,
        "layers": per_layer,
    }


def sliced_weights(module: nn.Module, layers: Mapping[str, nn.Module]) -> dict[str, int]:
    """How many of ``layers``' weights (and of all parameters) a structured prune removed from ``module``,
    counted against its dense twin built on the meta device; zeros for a module of full shape."""
    config = getattr(module, "config", None)
    if not getattr(config, "removed_units", None):
        return {"weights": 0, "params": 0}
    from diffusers import UNet2DConditionModel

    with torch.device("meta"):
        dense = UNet2DConditionModel.from_config({k: v for k, v in config.items() if k != "removed_units"})
    dense_modules = dict(dense.named_modules())
    weights = sum(dense_modules[name].weight.numel() - layer.weight.numel() for name, layer in layers.items())
    params = sum(p.numel() for p in dense.parameters()) - sum(p.numel() for p in module.parameters())
    return {"weights": weights, "params": params}


def full_model_sparsity(components: Mapping[str, Mapping]) -> dict:
    """Nominal (paper) and true full-model sparsity over text encoder + U-Net.

    components: name -> {"requested_sparsity", "total_params", "zeros"}; the VAE is excluded,
    as in the paper.
    """
    total = sum(c["total_params"] for c in components.values())
    nominal = sum(c["requested_sparsity"] * c["total_params"] for c in components.values()) / total
    true = sum(c["zeros"] for c in components.values()) / total
    return {"nominal_full_sparsity": nominal, "true_full_sparsity": true, "full_model_params": total}


def pipeline_accounting(pipe, requested: Mapping[str, float], scopes: Mapping[str, str] | None = None) -> dict:
    """Measure every prunable component of a pipeline and the full-model figures.

    requested: component -> requested sparsity (components left out count as dense, 0);
    scopes: component -> layer scope its sparsity is measured over (default linear).
    """
    from sdprune.models.components import COMPONENTS, find_layers

    components = {}
    for name in COMPONENTS:
        module = getattr(pipe, name)
        scope = (scopes or {}).get(name, "linear")
        summary = component_summary(module, find_layers(module, scope), requested=requested.get(name, 0.0))
        summary["scope"] = scope
        summary.pop("layers")
        components[name] = summary
    return {"components": components, **full_model_sparsity(components)}
