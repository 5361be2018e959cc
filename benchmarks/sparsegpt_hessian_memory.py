"""Memory the SparseGPT Hessians of one calibration group need at once, for SD2's shapes.

Counts on the meta device (no weights): each layer's Hessian is in_features^2 float32
(in_features x kh x kw for a convolution). Layers are grouped exactly as
`prune_component` groups them, so the largest group is the peak to plan for.

    python benchmarks/sparsegpt_hessian_memory.py
"""

from __future__ import annotations

from accelerate import init_empty_weights
from diffusers import UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel

from sdprune.models.architectures import SD2_TEXT_ENCODER, SD2_UNET
from sdprune.models.components import find_layers
from sdprune.pruning.calibration import calibration_groups


def hessian_bytes(layer) -> int:
    return 4 * layer.weight[0].numel() ** 2


def main() -> None:
    with init_empty_weights():
        models = {"text_encoder": CLIPTextModel(CLIPTextConfig(**SD2_TEXT_ENCODER)),
                  "unet": UNet2DConditionModel(**SD2_UNET)}
    print(f"{'component':<13} {'layers':<12} {'groups':>6} {'largest group GiB':>17} {'all at once GiB':>15} {'largest layer GiB':>17}")
    for component, module in models.items():
        for scope in ("linear", "linear+conv"):
            layers = find_layers(module, scope)
            for groups in ((0,) if component == "text_encoder" else (0, 4)):
                units = calibration_groups(module, component, list(layers), groups)
                per_group = [sum(hessian_bytes(layers[n]) for n in unit) for unit in units]
                total = sum(hessian_bytes(l) for l in layers.values())
                largest = max(hessian_bytes(l) for l in layers.values())
                label = "per block" if groups == 0 else str(groups)
                print(f"{component:<13} {scope:<12} {label:>6} {max(per_group) / 2**30:>17.2f} {total / 2**30:>15.2f} "
                      f"{largest / 2**30:>17.2f}")


if __name__ == "__main__":
    main()
