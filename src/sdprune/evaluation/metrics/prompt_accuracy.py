"""Prompt accuracy: generated images of scene-world captions judged by `sdprune.scenes.judge`.

Only meaningful where the prompts are scene captions (`data.evaluation.source: scenes`); the
judge is exact (no learned network), so these are the toy world's faithfulness numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from sdprune.io import read_image
from sdprune.scenes import judge


def judge_images(files: Sequence[str | Path], captions: Sequence[str]) -> tuple[dict[str, float], list[bool]]:
    """The judge's six accuracies over the set (``prompt_accuracy``, ``count_accuracy``, ``colour_accuracy``,
    ``shape_accuracy``, ``attribute_accuracy``, ``relation_accuracy``) and, per image, whether it is
    entirely correct.

    Each image is judged as a set of one, through the judge's own `prompt_accuracy`: its verdicts
    are then 0 or 1, kept per image, and their means are the set's accuracies, with one judging each.
    """
    if len(files) != len(captions) or not captions:
        raise ValueError(f"need a caption per image, at least one; got {len(files)} images and {len(captions)} captions")
    verdicts = [judge.prompt_accuracy([_pixels(file)], [text]) for file, text in zip(files, captions)]
    accuracies = {key: float(np.mean([v[key] for v in verdicts])) for key in verdicts[0]}
    return accuracies, [v["prompt_accuracy"] == 1.0 for v in verdicts]


def _pixels(file: str | Path) -> np.ndarray:
    """(H, W, 3) uint8."""
    return np.asarray(read_image(file).convert("RGB"))
