"""Image generation: one PNG per prompt, resumable, reproducible image by image.

Image i is generated from seed ``derive_seed(base_seed, i)`` with its own
generator, in the batch ``i // batch_size``: batch boundaries never move, so a
resumed run redoes exactly the computation an uninterrupted run would have done
and writes byte-identical files. Images go to ``<out>.partial/`` one atomic
write at a time; the folder is renamed to ``<out>`` only when it is complete.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch
from tqdm.auto import tqdm

from sdprune.io import atomic_path, write_json
from sdprune.seeding import derive_seed

log = logging.getLogger(__name__)


@dataclass
class GenerationSettings:
    num_steps: int = 50
    guidance_scale: float = 7.5
    scheduler: str | None = None  # None: the model's own
    height: int | None = None  # None: the model's native resolution
    width: int | None = None
    batch_size: int = 8
    seed: int = 0


def image_name(index: int) -> str:
    return f"{index:06d}.png"


def set_scheduler(pipe, name: str | None) -> None:
    if name is None:
        return
    import diffusers

    scheduler_class = getattr(diffusers, name, None)
    if scheduler_class is None or not hasattr(scheduler_class, "from_config"):
        raise ValueError(f"unknown diffusers scheduler {name!r}")
    pipe.scheduler = scheduler_class.from_config(pipe.scheduler.config)


def partial_dir(out_dir: str | Path) -> Path:
    out_dir = Path(out_dir)
    return out_dir.with_name(out_dir.name + ".partial")


@torch.no_grad()
def generate_images(
    pipe,
    prompts: Sequence[str],
    out_dir: str | Path,
    settings: GenerationSettings,
    *,
    on_batch_done: Callable[[int], None] | None = None,
) -> dict:
    """Generate an image per prompt into ``out_dir``; resume from ``<out_dir>.partial``.

    Returns the manifest (also written as ``manifest.json``).
    """
    out_dir = Path(out_dir)
    work = partial_dir(out_dir)
    work.mkdir(parents=True, exist_ok=True)
    set_scheduler(pipe, settings.scheduler)
    device = pipe.unet.device
    seeds = [derive_seed(settings.seed, i) for i in range(len(prompts))]
    batches = [range(s, min(s + settings.batch_size, len(prompts))) for s in range(0, len(prompts), settings.batch_size)]
    todo = [b for b in batches if not all((work / image_name(i)).exists() for i in b)]
    if len(todo) < len(batches):
        log.info("resuming: %d of %d batches already complete in %s", len(batches) - len(todo), len(batches), work)
    started = time.perf_counter()
    for batch in tqdm(todo, desc="generate", unit="batch"):
        generators = [torch.Generator(device).manual_seed(seeds[i]) for i in batch]
        images = pipe(
            prompt=[prompts[i] for i in batch],
            num_inference_steps=settings.num_steps,
            guidance_scale=settings.guidance_scale,
            height=settings.height,
            width=settings.width,
            generator=generators,
        ).images
        for i, image in zip(batch, images):
            with atomic_path(work / image_name(i)) as tmp:
                image.save(tmp, format="PNG")
        if on_batch_done is not None:
            on_batch_done(batch[-1])
    manifest = {
        "num_images": len(prompts),
        "settings": asdict(settings),
        "scheduler_class": type(pipe.scheduler).__name__,
        "images": [{"file": image_name(i), "prompt": p, "seed": s} for i, (p, s) in enumerate(zip(prompts, seeds))],
        "seconds_this_run": time.perf_counter() - started,
        "batches_generated_this_run": len(todo),
    }
    write_json(work / "manifest.json", manifest)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(work, out_dir)
    return manifest
