"""Reference images of the toy scene world (`scoring.fid_reference: scenes`): the exact renders of the
evaluation prompts' scenes, named as generated images are (`image_name`), so FID and paired code
read either folder.

Kept apart from `scene_data`, which the prompt stages run: rendering code is no part of what a
prompts file depends on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from PIL import Image

from sdprune.evaluation.generation import image_name
from sdprune.evaluation.prompts import PromptRecord
from sdprune.evaluation.scene_data import evaluation_scenes
from sdprune.io import atomic_directory
from sdprune.scenes import world


def render_scene_folder(chosen: Sequence[world.Scene], out_dir: str | Path) -> Path:
    """Render scene i to ``out_dir/image_name(i)`` (lossless PNG); the folder appears complete or not at all."""
    with atomic_directory(out_dir) as tmp:
        for i, item in enumerate(chosen):
            Image.fromarray(world.render(item)).save(tmp / image_name(i))
    return Path(out_dir)


def render_reference_scenes(records: Sequence[PromptRecord], out_dir: str | Path, *, seed: int) -> Path:
    """The ground-truth renders of the evaluation prompts' scenes.

    The scenes are regenerated from the seed; their captions must be the prompts file's, in order,
    or the renders would be of other scenes than the prompts ask for.
    """
    chosen = evaluation_scenes(len(records), seed)
    for record, item in zip(records, chosen):
        if record.prompt != world.caption(item):
            raise ValueError(f"evaluation prompt {record.index} is {record.prompt!r}, but eval scene "
                             f"{item.index} of seed {seed} is {world.caption(item)!r}: not the scene world's prompts")
    return render_scene_folder(chosen, out_dir)
