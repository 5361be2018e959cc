"""Image generation: one PNG per prompt, resumable, reproducible image by image.

Image i is generated from seed ``derive_seed(base_seed, i)`` with its own
generator, in the batch ``i // batch_size``: batch boundaries never move, so a
resumed run redoes exactly the computation an uninterrupted run would have done
and writes byte-identical files. Images go to ``<out>.partial/`` one atomic
write at a time; the folder is renamed to ``<out>`` only when it is complete.

Speed options (batch size, torch.compile, channels-last) leave every latent the
same; only float rounding in batched convolutions or fused kernels differs, which
moves a few 8-bit pixel values by one level (tests/unit/test_generation_speed_options.py
measures the bound). Attention (sdpa or diffusers' default) is a setting of its own.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import torch
from tqdm.auto import tqdm

from sdprune.io import atomic_path, discard_temporaries, write_json
from sdprune.models.loading import attention_in_use, set_attention
from sdprune.seeding import derive_seed

log = logging.getLogger(__name__)

AUTO = "auto"
CPU_AUTO_BATCH = 4  # a CPU gains little from larger batches; this keeps memory modest
MAX_AUTO_BATCH = 64
MEMORY_HEADROOM = 0.85  # of the free GPU memory a probed batch may plan to use (fragmentation, compile)


@dataclass
class GenerationSettings:
    num_steps: int = 50
    guidance_scale: float = 7.5
    scheduler: str | None = None  # None: the model's own
    height: int | None = None  # None: the model's native resolution
    width: int | None = None
    batch_size: int | str = 8  # "auto": the largest that fits free GPU memory (CPU: CPU_AUTO_BATCH)
    seed: int = 0
    attention: str = "sdpa"  # "sdpa": torch's scaled-dot-product kernels; "default": diffusers' explicit one
    compile: bool = False  # torch.compile the U-Net (speed only)
    channels_last: bool = False  # U-Net and VAE weights in channels-last memory format (speed only)


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

    Returns the manifest (also written as ``manifest.json``): the settings as given and, under
    ``runtime``, what they became here (device, dtype, batch size, attention implementation).
    """
    out_dir = Path(out_dir)
    work = partial_dir(out_dir)
    work.mkdir(parents=True, exist_ok=True)
    if discard_temporaries(work):  # a killed run's half-written image would move into out_dir with the rest
        log.info("removed temporaries a killed run left in %s", work)
    set_scheduler(pipe, settings.scheduler)
    device = pipe.unet.device
    seeds = [derive_seed(settings.seed, i) for i in range(len(prompts))]
    started = time.perf_counter()
    with accelerated(pipe, settings) as runtime:
        batch_size = planned_batch_size(pipe, settings, len(prompts), work)
        batches = [range(s, min(s + batch_size, len(prompts))) for s in range(0, len(prompts), batch_size)]
        todo = [b for b in batches if not all((work / image_name(i)).exists() for i in b)]
        if len(todo) < len(batches):
            log.info("resuming: %d of %d batches already complete in %s", len(batches) - len(todo), len(batches), work)
        for batch in tqdm(todo, desc="generate", unit="batch"):
            generators = [torch.Generator(device).manual_seed(seeds[i]) for i in batch]
            images = run_pipeline(pipe, [prompts[i] for i in batch], generators, settings)
            for i, image in zip(batch, images):
                with atomic_path(work / image_name(i)) as tmp:
                    image.save(tmp, format="PNG")
            if on_batch_done is not None:
                on_batch_done(batch[-1])
    manifest = {
        "num_images": len(prompts),
        "settings": asdict(settings),
        "runtime": {**runtime, "device": str(device), "dtype": str(pipe.unet.dtype).removeprefix("torch."),
                    "batch_size": batch_size},
        "scheduler_class": type(pipe.scheduler).__name__,
        "images": [{"file": image_name(i), "prompt": p, "seed": s} for i, (p, s) in enumerate(zip(prompts, seeds))],
        "seconds_this_run": time.perf_counter() - started,
        "batches_generated_this_run": len(todo),
    }
    write_json(work / "manifest.json", manifest)
    (work / BATCH_RECORD).unlink(missing_ok=True)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(work, out_dir)
    return manifest


def run_pipeline(pipe, prompts: Sequence[str], generators: list[torch.Generator], settings: GenerationSettings,
                 *, num_steps: int | None = None) -> list:
    """One pipeline call: PIL images of ``prompts``, image i from ``generators[i]``."""
    return pipe(
        prompt=list(prompts),
        num_inference_steps=num_steps or settings.num_steps,
        guidance_scale=settings.guidance_scale,
        height=settings.height,
        width=settings.width,
        generator=generators,
    ).images


# --- speed options -------------------------------------------------------------------------------

@contextlib.contextmanager
def accelerated(pipe, settings: GenerationSettings) -> Iterator[dict]:
    """``pipe`` with the settings' attention, memory format and compilation, undone on exit: a caller's
    later use of the pipeline (the stage's latency measurement against dense, say) sees it as it was."""
    unet = pipe.unet
    processors = {name: getattr(pipe, name).attn_processors for name in ("unet", "vae")}
    try:
        attention = set_attention(pipe, settings.attention)
        if settings.channels_last:
            for model in (pipe.unet, pipe.vae):
                model.to(memory_format=torch.channels_last)
        if settings.compile:
            pipe.unet = compiled(unet)
        yield {"attention": attention, "compile": settings.compile, "channels_last": settings.channels_last}
    finally:
        pipe.unet = unet
        if settings.channels_last:
            for model in (pipe.unet, pipe.vae):
                model.to(memory_format=torch.contiguous_format)
        for name, saved in processors.items():
            getattr(pipe, name).set_attn_processor(saved)


def compiled(unet):
    """``torch.compile(unet)``, or a clear error now if inductor's toolchain is missing (torch would
    only fail at the first call, deep inside the first batch)."""
    missing = missing_compile_toolchain(unet.device)
    if missing:
        raise RuntimeError(f"generation.compile: {missing}; install it or set generation.compile: false")
    return torch.compile(unet)


def missing_compile_toolchain(device: torch.device) -> str | None:
    """What torch.compile's default backend (inductor) lacks on ``device``, or None."""
    if device.type == "cuda":
        return None if importlib.util.find_spec("triton") else "inductor needs triton on a GPU, which is not installed"
    if os.environ.get("CXX") or any(shutil.which(name) for name in CXX_COMPILERS):
        return None
    return f"inductor needs a C++ compiler on the CPU; none of $CXX, {', '.join(CXX_COMPILERS)} is on PATH"


# --- batch size ----------------------------------------------------------------------------------

BATCH_RECORD = "batch_size.json"  # in the partial folder: a resumed "auto" run keeps its batches
CXX_COMPILERS = ("g++", "c++", "clang++")


def planned_batch_size(pipe, settings: GenerationSettings, num_images: int, work: Path) -> int:
    """The settings' batch size; for "auto", the one an interrupted run chose, else a new choice."""
    if settings.batch_size != AUTO:
        return int(settings.batch_size)
    record = work / BATCH_RECORD
    if record.exists():
        return int(json.loads(record.read_text())["batch_size"])
    device = pipe.unet.device
    fits = probe_batch_size(pipe, settings) if device.type == "cuda" else CPU_AUTO_BATCH
    chosen = max(1, min(fits, num_images))
    log.info("batch size auto on %s: %d (fits: %d, images: %d)", device, chosen, fits, num_images)
    write_json(record, {"batch_size": chosen})
    return chosen


def probe_batch_size(pipe, settings: GenerationSettings) -> int:
    """The largest batch whose generation fits the free GPU memory: the peak memory of one-step
    generations of 1 and 2 images, extrapolated linearly (classifier-free guidance included)."""
    device = pipe.unet.device
    extra = []
    for n in (1, 2):
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        generators = [torch.Generator(device).manual_seed(i) for i in range(n)]
        run_pipeline(pipe, ["a probe"] * n, generators, settings, num_steps=1)
        extra.append(torch.cuda.max_memory_allocated(device) - before)
    torch.cuda.empty_cache()
    free, _ = torch.cuda.mem_get_info(device)
    return batch_that_fits(extra[0], extra[1], budget=MEMORY_HEADROOM * free)


def batch_that_fits(one: int, two: int, *, budget: float, cap: int = MAX_AUTO_BATCH) -> int:
    """The largest batch n with fixed + n * per_image <= budget, from the bytes that batches of one and
    two images needed on top of the model; at least 1, at most ``cap``."""
    per_image = two - one
    if per_image <= 0:  # no measurable growth: memory does not limit the batch
        return cap
    fixed = one - per_image
    return max(1, min(cap, int((budget - fixed) // per_image)))
