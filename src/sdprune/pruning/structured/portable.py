"""A saved pipeline with a sliced U-Net that `from_pretrained` loads without sdprune.

`save_pretrained` records a component of a class outside diffusers under its full
module path (`sdprune.pruning.structured.sliced_unet`), which diffusers loads only if
the caller imported that module first. Instead, the class's source file is copied
into the component's folder and model_index.json names it there: diffusers' custom
component path, loaded with ``StableDiffusionPipeline.from_pretrained(folder,
trust_remote_code=True)``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sdprune.io import read_json, write_json
from sdprune.pruning.structured import sliced_unet
from sdprune.pruning.structured.sliced_unet import SlicedUNet2DConditionModel

CODE_FILE = Path(sliced_unet.__file__).name  # sliced_unet.py
CLASS_ENTRY = [Path(CODE_FILE).stem, SlicedUNet2DConditionModel.__name__]


def ship_model_code(pipe, folder: str | Path) -> list[str]:
    """After ``pipe.save_pretrained(folder)``: copy the sliced U-Net's code beside each sliced component's
    weights and point model_index.json at it. Returns the components changed."""
    folder = Path(folder)
    index = read_json(folder / "model_index.json")
    shipped = [name for name in sorted(index) if isinstance(getattr(pipe, name, None), SlicedUNet2DConditionModel)]
    for name in shipped:
        shutil.copyfile(sliced_unet.__file__, folder / name / CODE_FILE)
        index[name] = CLASS_ENTRY
    if shipped:
        write_json(folder / "model_index.json", index)
    return shipped
