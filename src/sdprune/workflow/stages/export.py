"""export: a standalone pruned pipeline that `StableDiffusionPipeline.from_pretrained` loads.

A structurally pruned U-Net has per-block shapes no U-Net config describes: its folder
then carries its class's code, and loading needs ``trust_remote_code=True``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from sdprune.io import atomic_directory, read_json
from sdprune.pruning.artifact import load_artifact, load_pruned_pipeline
from sdprune.pruning.structured.portable import ship_model_code


def export(*, artifact_dirs: Sequence[str | Path], out_dir: str | Path, model_dir: str | Path | None = None) -> Path:
    """Write a standalone pruned pipeline that `StableDiffusionPipeline.from_pretrained` loads."""
    artifacts: dict[str, Path] = {}
    for folder in artifact_dirs:
        report = read_json(Path(folder) / "report.json")
        model_dir = model_dir or report["base_model"]
        path = Path(folder) / "artifact.safetensors"
        artifacts[load_artifact(path).component] = path
    if model_dir is None:
        raise ValueError("no base model: pass model_dir or artifacts with a report.json")
    pipe = load_pruned_pipeline(model_dir, artifacts, device="cpu", dtype=_saved_dtype(model_dir))
    with atomic_directory(out_dir) as tmp:
        pipe.save_pretrained(tmp, safe_serialization=True)
        ship_model_code(pipe, tmp)  # a sliced U-Net's class travels with it (loaded with trust_remote_code=True)
    return Path(out_dir)


def _saved_dtype(model_dir: str | Path) -> str:
    """The dtype the U-Net weights were saved in, so an export keeps the base model's precision."""
    from safetensors import safe_open

    names = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}
    weights = next((Path(model_dir) / "unet").glob("*.safetensors"))
    with safe_open(str(weights), framework="pt") as handle:
        return names[handle.get_slice(next(iter(handle.keys()))).get_dtype()]
