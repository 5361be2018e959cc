"""A U-Net whose transformer blocks lost whole attention heads and feed-forward units.

This file imports only torch and diffusers, on purpose: `export` copies it beside
the U-Net's weights, so `StableDiffusionPipeline.from_pretrained(folder,
trust_remote_code=True)` loads a pruned pipeline without sdprune installed.

A U-Net config gives one head count per stage and no feed-forward width at all,
so it cannot describe per-block shapes. `SlicedUNet2DConditionModel` adds one
config entry, ``removed_units``: {module name: removed unit indices}, where a
module is an `Attention` (its units are heads) or a `FeedForward` (its units are
hidden units). Building the model = the dense U-Net from the rest of the config,
then those units sliced away, so the saved (smaller) weights fit it.
"""

from __future__ import annotations

import inspect
from typing import Mapping, Sequence

import torch
import torch.nn as nn
from diffusers import UNet2DConditionModel
from diffusers.models.attention import FeedForward
from diffusers.models.attention_processor import Attention


def kept_indices(count: int, removed: Sequence[int]) -> torch.Tensor:
    """The indices in ``range(count)`` not in ``removed``, ascending (long)."""
    gone = set(int(i) for i in removed)
    if not gone <= set(range(count)):
        raise ValueError(f"unit indices {sorted(gone - set(range(count)))} are outside 0..{count - 1}")
    return torch.tensor([i for i in range(count) if i not in gone], dtype=torch.long)


def shrink_linear(layer: nn.Linear, *, rows: torch.Tensor | None = None, cols: torch.Tensor | None = None) -> None:
    """Keep only output ``rows`` and input ``cols`` of ``layer``, in place (the module object stays the same,
    so hooks and references to it stay valid)."""
    weight, bias = layer.weight.data, layer.bias
    if rows is not None:
        weight = weight.index_select(0, rows.to(weight.device))
        if bias is not None:
            layer.bias = nn.Parameter(bias.data.index_select(0, rows.to(bias.device)), requires_grad=bias.requires_grad)
    if cols is not None:
        weight = weight.index_select(1, cols.to(weight.device))
    layer.weight = nn.Parameter(weight.contiguous(), requires_grad=layer.weight.requires_grad)
    layer.out_features, layer.in_features = weight.shape


def head_columns(heads: torch.Tensor, head_dim: int) -> torch.Tensor:
    """Rows of to_q/k/v (= columns of to_out.0) of the given heads: head h is h*d .. h*d + d - 1."""
    return (heads[:, None] * head_dim + torch.arange(head_dim)[None, :]).reshape(-1)


def slice_attention(attn: Attention, removed_heads: Sequence[int]) -> None:
    """Remove heads from an `Attention`: q/k/v rows (attn2's k/v still read the text context), to_out.0 columns."""
    if attn.added_kv_proj_dim is not None or attn.fused_projections or attn.inner_kv_dim != attn.inner_dim:
        raise ValueError("only plain self- and cross-attention can lose heads (no added or fused projections, no GQA)")
    head_dim = attn.inner_dim // attn.heads
    kept = kept_indices(attn.heads, removed_heads)
    if len(kept) == 0:
        raise ValueError("an attention module must keep at least one head")
    rows = head_columns(kept, head_dim)
    for projection in (attn.to_q, attn.to_k, attn.to_v):
        shrink_linear(projection, rows=rows)
    shrink_linear(attn.to_out[0], cols=rows)
    # What the attention processors read: heads (the reshape), inner dims, attention slicing's bound.
    attn.heads = attn.sliceable_head_dim = len(kept)
    attn.inner_dim = attn.inner_kv_dim = len(kept) * head_dim


def slice_feed_forward(ff: FeedForward, removed_units: Sequence[int]) -> None:
    """Remove hidden units of a `FeedForward`: column i of net.2 and its row(s) of net.0.proj.

    A gated activation (GEGLU in SD2) computes value * gelu(gate) from one projection
    split in two halves, so unit i is rows i and i + inner of net.0.proj: both go.
    """
    projection, out = ff.net[0].proj, ff.net[2]
    inner = out.in_features
    kept = kept_indices(inner, removed_units)
    if len(kept) == 0:
        raise ValueError("a feed-forward module must keep at least one hidden unit")
    if projection.out_features == 2 * inner:  # gated: value and gate halves
        rows = torch.cat([kept, kept + inner])
    elif projection.out_features == inner:
        rows = kept
    else:
        raise ValueError(f"feed-forward projection has {projection.out_features} outputs for {inner} hidden units")
    shrink_linear(projection, rows=rows)
    shrink_linear(out, cols=kept)


def slice_units(model: nn.Module, removed_units: Mapping[str, Sequence[int]]) -> None:
    """Slice every named `Attention` / `FeedForward` of ``model`` to lose its listed units, in place."""
    for name, removed in sorted(removed_units.items()):
        module = model.get_submodule(name)
        if isinstance(module, Attention):
            slice_attention(module, removed)
        elif isinstance(module, FeedForward):
            slice_feed_forward(module, removed)
        else:
            raise ValueError(f"{name} is a {type(module).__name__}, neither an Attention nor a FeedForward")


class SlicedUNet2DConditionModel(UNet2DConditionModel):
    """`UNet2DConditionModel` with ``removed_units`` sliced away (see the module docstring)."""

    def __init__(self, *args, removed_units: Mapping[str, Sequence[int]] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        removed = {name: sorted(int(i) for i in units) for name, units in (removed_units or {}).items()}
        slice_units(self, removed)
        self.register_to_config(removed_units=removed)

    @classmethod
    def from_sliced(cls, unet: UNet2DConditionModel, removed_units: Mapping[str, Sequence[int]]):
        """A `SlicedUNet2DConditionModel` holding the tensors of ``unet``, already sliced to ``removed_units``
        (built on the meta device, then given those tensors: nothing is copied)."""
        config = {key: value for key, value in unet.config.items() if key != "removed_units"}
        with torch.device("meta"):
            model = cls.from_config({**config, "removed_units": dict(removed_units)})
        model.load_state_dict(unet.state_dict(), strict=True, assign=True)
        return model.train(unet.training)


def _signature_with_removed_units() -> inspect.Signature:
    """The dense U-Net's signature plus ``removed_units``: diffusers reads the config keys a class
    accepts from its ``__init__`` signature, so ``*args, **kwargs`` alone would drop them all."""
    dense = inspect.signature(UNet2DConditionModel.__init__)
    extra = inspect.Parameter("removed_units", inspect.Parameter.KEYWORD_ONLY, default=None)
    return dense.replace(parameters=[*dense.parameters.values(), extra])


SlicedUNet2DConditionModel.__init__.__signature__ = _signature_with_removed_units()
