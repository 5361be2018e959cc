"""The pruning artifact: only what differs from the base model.

One safetensors file per pruned component holds, per pruned layer, its keep-mask
as packed bits (1 bit per weight: ~38 MB for SD2's 301 M U-Net Linear weights
instead of a 3.5 GB checkpoint) and, only for methods that update the kept
weights (SparseGPT), the kept values in the base dtype. A structured artifact
(whole heads and feed-forward units removed, `sdprune.pruning.structured`) holds
no masks: it records the removed units per module in its metadata and the new
weights of the output projections OBS compensated (sliced, whole). `apply_artifact`
rebuilds the pruned component from base + artifact, bit for bit.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np
import torch
import torch.nn as nn

from sdprune.io import CorruptFileError, load_tensors, read_tensor_metadata, save_tensors
from sdprune.pruning.masks import apply_mask

log = logging.getLogger(__name__)

FORMAT = "sdprune-artifact/1"
# A structured artifact is /2: a /1 reader, blind to removed units, would rebuild it as the dense model.
STRUCTURED_FORMAT = "sdprune-artifact/2"


@dataclass
class PruningArtifact:
    component: str
    masks: dict[str, torch.Tensor]  # layer name -> bool keep-mask, shaped like the weight
    values: dict[str, torch.Tensor] = field(default_factory=dict)  # layer name -> kept weights (1-D)
    base_fingerprint: str = ""
    removed_units: dict[str, list[int]] = field(default_factory=dict)  # Attention/FeedForward -> unit indices
    weights: dict[str, torch.Tensor] = field(default_factory=dict)  # layer name -> its whole new (sliced) weight


def pack_mask(mask: torch.Tensor) -> torch.Tensor:
    bits = np.packbits(mask.detach().cpu().numpy().reshape(-1).astype(np.uint8))
    return torch.from_numpy(bits)


def unpack_mask(packed: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    numel = int(np.prod(shape))
    bits = np.unpackbits(packed.numpy(), count=numel).astype(bool)
    return torch.from_numpy(bits).reshape(shape)


def save_artifact(path: str | Path, artifact: PruningArtifact) -> None:
    tensors: dict[str, torch.Tensor] = {}
    shapes: dict[str, list[int]] = {}
    for name, mask in artifact.masks.items():
        tensors[f"{name}.mask"] = pack_mask(mask)
        shapes[name] = list(mask.shape)
        if name in artifact.values:
            tensors[f"{name}.values"] = artifact.values[name]
    tensors.update({f"{name}.weight": weight for name, weight in artifact.weights.items()})
    metadata = {
        "format": STRUCTURED_FORMAT if artifact.removed_units else FORMAT,
        "component": artifact.component,
        "shapes": json.dumps(shapes, sort_keys=True),
        "base_fingerprint": artifact.base_fingerprint,
    }
    if artifact.removed_units:
        metadata["removed_units"] = json.dumps(artifact.removed_units, sort_keys=True)
    save_tensors(path, tensors, metadata)


def load_artifact(path: str | Path) -> PruningArtifact:
    metadata = read_tensor_metadata(path)
    if metadata.get("format") not in (FORMAT, STRUCTURED_FORMAT):
        raise CorruptFileError(path, f"not an sdprune artifact (format {metadata.get('format')!r})")
    try:
        shapes = json.loads(metadata["shapes"])
        removed_units = json.loads(metadata.get("removed_units", "{}"))
        component = metadata["component"]
    except (KeyError, json.JSONDecodeError) as error:
        raise CorruptFileError(path, f"artifact metadata unreadable ({type(error).__name__}: {error})") from None
    tensors = load_tensors(path)
    _check_layers(path, shapes, tensors)
    masks = {name: unpack_mask(tensors[f"{name}.mask"], tuple(shape)) for name, shape in shapes.items()}
    values = {name: tensors[f"{name}.values"] for name in shapes if f"{name}.values" in tensors}
    for name, kept in values.items():
        if kept.numel() != int(masks[name].sum()):
            raise CorruptFileError(path, f"{name}: {kept.numel()} kept values for {int(masks[name].sum())} kept weights")
    weights = {key.removesuffix(".weight"): tensor for key, tensor in tensors.items() if key.endswith(".weight")}
    return PruningArtifact(component, masks, values, metadata.get("base_fingerprint", ""), removed_units, weights)


def _check_layers(path, shapes: Mapping[str, list[int]], tensors: Mapping[str, torch.Tensor]) -> None:
    """Every recorded layer has a packed mask of exactly its size (unpacking a short one would pad it with zeros)."""
    for name, shape in shapes.items():
        packed = tensors.get(f"{name}.mask")
        if packed is None:
            raise CorruptFileError(path, f"{name}: its shape is recorded but its mask is missing")
        expected = (int(np.prod(shape)) + 7) // 8
        if packed.dtype != torch.uint8 or packed.numel() != expected:
            raise CorruptFileError(path, f"{name}: packed mask of {packed.numel()} bytes ({packed.dtype}) for "
                                         f"shape {shape} ({expected} bytes expected)")


def pruned_weight(weight: torch.Tensor, mask: torch.Tensor, values: torch.Tensor | None) -> torch.Tensor:
    """The weight a pruned layer must hold, from its base weight, mask and (optional) kept values."""
    if values is None:
        return apply_mask(weight, mask)
    out = torch.zeros_like(weight)
    out[mask.to(weight.device)] = values.to(weight.device, weight.dtype)
    return out


@torch.no_grad()
def apply_artifact(module: nn.Module, artifact: PruningArtifact, *, expected_fingerprint: str | None = None) -> None:
    """Turn the base component ``module`` into the pruned one, in place."""
    if expected_fingerprint and artifact.base_fingerprint and artifact.base_fingerprint != expected_fingerprint:
        raise ValueError(
            f"artifact for {artifact.component} was made from a different base model "
            f"({artifact.base_fingerprint[:12]} != {expected_fingerprint[:12]})"
        )
    for name, mask in artifact.masks.items():
        layer = module.get_submodule(name)
        if tuple(layer.weight.shape) != tuple(mask.shape):
            raise ValueError(f"{name}: mask shape {tuple(mask.shape)} != weight shape {tuple(layer.weight.shape)}")
        mask = mask.to(layer.weight.device)
        layer.weight.copy_(pruned_weight(layer.weight, mask, artifact.values.get(name)))
    if artifact.removed_units:
        _apply_removed_units(module, artifact)
    log.info("applied %s artifact: %d layers, %d modules sliced", artifact.component, len(artifact.masks),
             len(artifact.removed_units))


def _apply_removed_units(module: nn.Module, artifact: PruningArtifact) -> None:
    """Slice the removed units away, then give the compensated projections their new weights."""
    from sdprune.pruning.structured.sliced_unet import slice_units

    slice_units(module, artifact.removed_units)
    for name, weight in artifact.weights.items():
        layer = module.get_submodule(name)
        if tuple(layer.weight.shape) != tuple(weight.shape):
            raise ValueError(f"{name}: stored weight {tuple(weight.shape)} != sliced layer {tuple(layer.weight.shape)}")
        layer.weight.copy_(weight)


def load_pruned_pipeline(model_dir: str | Path, artifacts: Mapping[str, str | Path], *,
                         device: str | torch.device = "cpu", dtype: str = "float32"):
    """Load a saved pipeline and apply pruning artifacts (component -> artifact path) to it."""
    from sdprune.models.loading import component_fingerprint, load_pipeline, resolve_device

    pipe = load_pipeline(model_dir, device="cpu", dtype=dtype)
    for component, path in artifacts.items():
        artifact = load_artifact(path)
        if artifact.component != component:
            raise ValueError(f"{path} holds a {artifact.component} artifact, not {component}")
        apply_artifact(getattr(pipe, component), artifact, expected_fingerprint=component_fingerprint(model_dir, component))
        if artifact.removed_units:  # a class whose config records the slicing, so save_pretrained keeps it
            from sdprune.pruning.structured.sliced_unet import SlicedUNet2DConditionModel

            sliced = SlicedUNet2DConditionModel.from_sliced(getattr(pipe, component), artifact.removed_units)
            pipe.register_modules(**{component: sliced})
    return pipe.to(resolve_device(device) if isinstance(device, str) else device)
