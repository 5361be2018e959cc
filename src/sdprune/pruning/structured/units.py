"""The prunable units of a model's transformer blocks, and the columns each occupies.

Every diffusers `Attention` (attn1, attn2 of a BasicTransformerBlock) has heads,
every `FeedForward` (ff) has hidden units. A unit is judged and compensated on the
module's output projection (to_out.0, ff.net.2), where it is a group of input
columns: head h is columns h*d .. h*d + d - 1, hidden unit i is column i.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from sdprune.pruning.structured.sliced_unet import Attention, FeedForward, head_columns


@dataclass(frozen=True)
class UnitModule:
    """One module whose units can go: an `Attention` (units = heads) or a `FeedForward` (hidden units)."""

    name: str  # the Attention / FeedForward's qualified name
    kind: str  # "heads" or "ff_units"
    projection: str  # qualified name of its output projection, whose input columns the units are
    units: int
    width: int  # input columns of the projection per unit: the head dim, or 1

    def groups(self) -> torch.Tensor:
        """(units, width) column indices of each unit in the output projection."""
        return head_columns(torch.arange(self.units), self.width).reshape(self.units, self.width)


def unit_modules(model: nn.Module) -> dict[str, UnitModule]:
    """{output projection name: its UnitModule} for every Attention and FeedForward, in registration order."""
    found = {}
    for name, module in model.named_modules():
        if isinstance(module, Attention):
            unit = UnitModule(name, "heads", f"{name}.to_out.0", module.heads, module.inner_dim // module.heads)
        elif isinstance(module, FeedForward):
            unit = UnitModule(name, "ff_units", f"{name}.net.2", module.net[2].in_features, 1)
        else:
            continue
        found[unit.projection] = unit
    if not found:
        raise ValueError(f"{type(model).__name__} has no diffusers Attention or FeedForward modules to slice")
    return found


def unit_counts(model: nn.Module) -> dict[str, int]:
    """Total heads and feed-forward units of a model: {"heads": n, "ff_units": m}."""
    counts = {"heads": 0, "ff_units": 0}
    for unit in unit_modules(model).values():
        counts[unit.kind] += unit.units
    return counts
