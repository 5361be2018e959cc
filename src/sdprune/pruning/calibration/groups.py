"""Sequential calibration: layers split into ordered groups of whole blocks.

Each group is calibrated on inputs produced by the already-pruned groups before
it (the paper's code does this block by block for the text encoder).
"""

from __future__ import annotations

from typing import Sequence

import torch.nn as nn

from sdprune.models.components import block_of, execution_blocks


def calibration_groups(module: nn.Module, component: str, layer_names: Sequence[str], groups: int) -> list[list[str]]:
    """Split layers into ordered groups of whole blocks (0 groups: one per block)."""
    units = _block_units(module, component, layer_names)
    if groups <= 0 or groups >= len(units):
        return units
    return _contiguous_chunks(units, groups)


def _block_units(module: nn.Module, component: str, layer_names: Sequence[str]) -> list[list[str]]:
    """One unit per block, in execution order; layers before the first block and after it apart."""
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
    return units


def _contiguous_chunks(units: list[list[str]], groups: int) -> list[list[str]]:
    """Contiguous chunks of units with about the same number of layers each."""
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


def unit_name(module: nn.Module, component: str, unit: Sequence[str]) -> str:
    """The block a unit of layers belongs to (or its first layer, outside any block)."""
    return block_of(unit[0], execution_blocks(module, component)) or unit[0]


def last_block(module: nn.Module, component: str, names: Sequence[str]) -> nn.Module | None:
    """The last block holding any of ``names``: a forward can stop once it has run."""
    blocks = [block_of(n, execution_blocks(module, component)) for n in names]
    blocks = [b for b in blocks if b is not None]
    return module.get_submodule(blocks[-1]) if blocks else None
