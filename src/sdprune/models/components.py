"""Which modules of a pipeline are prunable, and in what order they run.

This is the only place that knows diffusers/transformers module names; the rest
of the library works with `{qualified_name: module}` mappings.
"""

from __future__ import annotations

import re
from typing import Literal

import torch.nn as nn

COMPONENTS = ("text_encoder", "unet")
LAYER_SCOPES = ("linear", "linear+conv", "transformer")
Component = Literal["text_encoder", "unet"]

_TEXT_BLOCK = re.compile(r"(^|\.)encoder\.layers\.\d+$")
_UNET_BLOCK = re.compile(r"^(time_embedding|down_blocks\.\d+|mid_block|up_blocks\.\d+)$")
# `transformer` scope (OBS-Diff's): the attention and feed-forward Linears of a transformer block,
# diffusers' BasicTransformerBlock (attn1, attn2, ff) or CLIP's encoder layer (self_attn, mlp).
_TRANSFORMER_LINEAR = re.compile(r"(^|\.)(transformer_blocks|encoder\.layers)\.\d+\.(attn1|attn2|ff|self_attn|mlp)\.")
_UNET_STAGE_ORDER = {"time_embedding": 0, "down_blocks": 1, "mid_block": 2, "up_blocks": 3}


def get_component(pipe, component: str) -> nn.Module:
    if component not in COMPONENTS:
        raise ValueError(f"unknown component {component!r}; expected one of {COMPONENTS}")
    return getattr(pipe, component)


def layer_types(scope: str) -> tuple[type[nn.Module], ...]:
    if scope in ("linear", "transformer"):
        return (nn.Linear,)
    if scope == "linear+conv":
        return (nn.Linear, nn.Conv2d)
    raise ValueError(f"unknown layer scope {scope!r}; expected one of {LAYER_SCOPES}")


def find_layers(module: nn.Module, scope: str = "linear") -> dict[str, nn.Module]:
    """`{qualified_name: layer}` of every prunable layer in `module`, in registration order.

    `linear`: every nn.Linear (in the U-Net also time_embedding, resnet time_emb_proj,
    proj_in/proj_out); `linear+conv`: and every nn.Conv2d; `transformer`: only the
    attention and feed-forward Linears inside transformer blocks.
    """
    types = layer_types(scope)
    layers = {name: child for name, child in module.named_modules() if isinstance(child, types)}
    if scope == "transformer":
        layers = {name: child for name, child in layers.items() if _TRANSFORMER_LINEAR.search(name)}
    return layers


def execution_blocks(module: nn.Module, component: str) -> list[str]:
    """Names of the component's top-level blocks in the order a forward pass runs them.

    Pruning "in sequence" calibrates each block on inputs produced by the
    already-pruned blocks before it, so the order matters.
    """
    names = [name for name, _ in module.named_modules()]
    if component == "text_encoder":
        blocks = [n for n in names if _TEXT_BLOCK.search(n)]
        return sorted(blocks, key=lambda n: int(n.rsplit(".", 1)[1]))
    if component == "unet":
        blocks = [n for n in names if _UNET_BLOCK.match(n)]
        return sorted(blocks, key=_unet_block_key)
    raise ValueError(f"unknown component {component!r}")


def _unet_block_key(name: str) -> tuple[int, int]:
    stage, _, index = name.partition(".")
    return (_UNET_STAGE_ORDER[stage], int(index or 0))


def block_of(layer_name: str, blocks: list[str]) -> str | None:
    """The block a layer belongs to (None for layers outside every block, e.g. conv_in)."""
    for block in blocks:
        if layer_name == block or layer_name.startswith(block + "."):
            return block
    return None
