"""Artifact size per method against the dense component, at sd2-random's shapes.

An artifact (`sdprune.pruning.artifact`) holds, per pruned layer, the keep-mask as packed
bits and, for methods that change the weights they keep (SparseGPT, OBS-Diff), those kept
weights in the model's dtype. Its size depends on the layer shapes, the sparsity and
whether values are stored, not on which weights a method keeps, so each method's artifact
is written here by the real `save_artifact` from masks of its scope at the requested
sparsity (random, seeded) and, where the method stores them, the kept values. Shapes
come from the SD2 configs on the meta device: no weights, no several-GB model in memory.
The dense figure is the component's parameters in the model's dtype. OWL plans store what
their base method stores. Target: mask-only methods <= 2 % of the dense component.

    python benchmarks/artifact_size.py                       # float32, 50 %, ~1 min
    python benchmarks/artifact_size.py --dtype float16 --sparsity 0.3
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import _common  # noqa: F401  (puts this checkout's src first)

TARGET = 0.02


def meta_components() -> dict:
    import torch
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from sdprune.models.architectures import SD2_TEXT_ENCODER, SD2_UNET

    with torch.device("meta"):
        return {"text_encoder": CLIPTextModel(CLIPTextConfig(**SD2_TEXT_ENCODER)),
                "unet": UNet2DConditionModel(**SD2_UNET)}


def artifact_bytes(component: str, module, method, sparsity: float, dtype, out: Path) -> int:
    import torch

    from sdprune.models.components import find_layers
    from sdprune.pruning.artifact import PruningArtifact, save_artifact

    generator = torch.Generator().manual_seed(0)
    masks, values = {}, {}
    for name, layer in find_layers(module, method.default_scope or "linear").items():
        masks[name] = torch.rand(layer.weight.shape, generator=generator) >= sparsity
        if method.updates_weights:
            values[name] = torch.zeros(int(masks[name].sum()), dtype=dtype)
    save_artifact(out, PruningArtifact(component, masks, values))
    return out.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sparsity", type=float, default=0.5)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    args = parser.parse_args()

    import torch

    from sdprune.pruning.methods import base_methods, get_method

    dtype = getattr(torch, args.dtype)
    element = torch.tensor([], dtype=dtype).element_size()
    print(f"sd2-random shapes, {args.dtype}, sparsity {args.sparsity:g}; artifact / dense component")
    with tempfile.TemporaryDirectory() as tmp:
        for component, module in meta_components().items():
            dense = sum(p.numel() for p in module.parameters()) * element
            print(f"{component}: dense {dense / 2**20:.0f} MiB")
            for name in base_methods():
                method = get_method(name)
                size = artifact_bytes(component, module, method, args.sparsity, dtype, Path(tmp) / "a.safetensors")
                stores = "masks + kept values" if method.updates_weights else "masks"
                verdict = "" if method.updates_weights else \
                    f" (target <= {TARGET:.0%}) {'MET' if size / dense <= TARGET else 'MISSED'}"
                print(f"  {name:<10} {method.default_scope or 'linear':<11} {stores:<19} {size / 2**20:8.1f} MiB "
                      f"{size / dense:7.2%}{verdict}", flush=True)


if __name__ == "__main__":
    main()
