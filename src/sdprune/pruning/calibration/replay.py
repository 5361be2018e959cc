"""Sequential calibration of a chain of blocks without re-running the model from its start.

The text encoder's blocks form a chain: each takes the previous block's output and
the same attention masks. Sequential calibration needs each group's inputs as the
already-pruned groups before it produce them; re-running the model from its first
block for every group costs about (groups + 1) / 2 forwards per prompt (12 for SD2's
23 blocks). `BlockReplay` keeps instead what the group's first block received in
every calibration forward (the hidden states, the masks, the feed's row mask and
weight), replays it through the group's blocks to collect statistics, and, once the
group is pruned, through them again to make the next group's inputs: every block
runs twice in all, on the same tensors as a full forward would give it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn as nn

from sdprune.models.components import block_of, execution_blocks
from sdprune.pruning.calibration.hooks import CalibrationState, Feed, StopForward


@dataclass
class _BlockCall:
    """One forward's input to a block: hidden states (B, T, C), the other arguments, the feed's state."""

    hidden: torch.Tensor
    args: tuple
    kwargs: dict
    row_mask: torch.Tensor | None
    weight: float


class BlockReplay:
    """The inputs ``first`` received over one run of ``feed``; replayed through blocks from there on."""

    def __init__(self, feed: Feed, first: nn.Module):
        self.calls: list[_BlockCall] = []
        state = CalibrationState()

        def capture(module: nn.Module, args: tuple, kwargs: dict) -> None:
            self.calls.append(_BlockCall(args[0], args[1:], kwargs, state.row_mask, state.weight))
            raise StopForward  # nothing past this block's input is needed

        handle = first.register_forward_pre_hook(capture, with_kwargs=True)
        try:
            feed(state, first)
        finally:
            handle.remove()

    def feed(self, blocks: Sequence[nn.Module]) -> Feed:
        """A feed that runs ``blocks`` on the kept inputs (hooks on their layers see every forward)."""
        def replay(state: CalibrationState, stop_after: nn.Module | None = None) -> None:
            for call in self.calls:
                state.row_mask, state.weight = call.row_mask, call.weight
                state.forwards += 1
                self._run(blocks, call)

        return replay

    @torch.no_grad()
    def advance(self, blocks: Sequence[nn.Module]) -> None:
        """Replace the kept inputs by ``blocks``' outputs (run after they are pruned): the next group's inputs."""
        for call in self.calls:
            call.hidden = self._run(blocks, call)

    @staticmethod
    @torch.no_grad()
    def _run(blocks: Sequence[nn.Module], call: _BlockCall) -> torch.Tensor:
        hidden = call.hidden
        for block in blocks:
            out = block(hidden, *call.args, **call.kwargs)
            hidden = out[0] if isinstance(out, tuple) else out  # transformers < 5 returns (hidden,)
        return hidden


def chain_segments(module: nn.Module, component: str, groups: Sequence[Sequence[str]]) -> list[list[nn.Module]] | None:
    """The blocks each group's replay runs: from its first block up to the next group's first (blocks
    holding no target layer run with the group before them); None if a layer lies outside every block."""
    blocks = execution_blocks(module, component)
    firsts = []
    for group in groups:
        positions = [blocks.index(b) if (b := block_of(name, blocks)) else None for name in group]
        if None in positions:
            return None
        firsts.append(min(positions))
        last = max(positions)
    ends = firsts[1:] + [last + 1]
    return [[module.get_submodule(b) for b in blocks[start:end]] for start, end in zip(firsts, ends)]
