"""Prompt sets and reference images from the toy scene world (`data.*.source: scenes`).

Three streams of `sdprune.scenes.world`, all of the config's top-level ``seed``:

- evaluation prompts: the captions of ``world.scenes(n, seed, split="eval")``. Every eval scene
  holds a held-out (colour, shape) pair that no train scene has, so the toy model is evaluated
  on combinations it never saw;
- calibration prompts: the captions of the train split from index ``CALIBRATION_START`` on. The
  toy model trains on indices ``0 .. num_scenes - 1`` of the same stream (8192 by default), so
  calibration draws the training distribution without replaying training captions;
- reference images (`scoring.fid_reference: scenes`): the exact renders of the evaluation
  scenes (`scene_references`).

A prompts file holds captions only; a scene's layout (positions, sizes) is regenerated from its
(index, seed, split).
"""

from __future__ import annotations

from typing import Sequence

from sdprune.evaluation.prompts import PromptRecord
from sdprune.scenes import world

EVALUATION_SPLIT = "eval"
CALIBRATION_SPLIT = "train"
CALIBRATION_START = 1_000_000  # far past the toy model's training scenes (0 .. ToyTraining.num_scenes - 1)


def evaluation_scenes(num: int, seed: int) -> list[world.Scene]:
    """The scenes behind the evaluation prompts: the first ``num`` of the eval split's stream ``seed``."""
    return world.scenes(num, seed=seed, split=EVALUATION_SPLIT)


def calibration_scenes(num: int, seed: int) -> list[world.Scene]:
    """Train-split scenes of stream ``seed`` that the toy model's training never draws."""
    return world.scenes(num, seed=seed, split=CALIBRATION_SPLIT, start=CALIBRATION_START)


def scene_records(chosen: Sequence[world.Scene]) -> list[PromptRecord]:
    """Prompt records (the format every prompt source writes): record i is scene i's caption."""
    return [PromptRecord(i, world.caption(s)) for i, s in enumerate(chosen)]
