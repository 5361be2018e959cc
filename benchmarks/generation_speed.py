"""Seconds per image: our generate_images against a plain diffusers loop, with identical settings.

Both sides run the same pipeline object on the same prompts, per-image seeds, batch size, dtype,
attention and speed options, and both write one PNG per image; the plain loop is
`StableDiffusionPipeline.__call__` in a for-loop over batches, with the options applied the way
diffusers' docs apply them. After one untimed warm-up each (compilation, allocator), repeats
interleave (ours, plain, ours, plain, ...) and each side's figure is its median, so the machine's
noise hits both alike. Target: ours at >= 0.97x the plain loop's speed.

On the CPU (default: sd2-random, the SD2-shaped model with random weights, at 256 px and 10 steps,
as SD2's cost per step at 768 px is out of reach of two shared cores):

    python benchmarks/generation_speed.py

On a GPU, the paper's settings; --output keeps the figure for estimate_gpu_hours.py:

    python benchmarks/generation_speed.py --device cuda --dtype float16 --batch-size auto --compile \\
        --height 768 --width 768 --steps 50 --num-prompts 32 --output benchmarks/generation_speed.json
    python benchmarks/estimate_gpu_hours.py --measured benchmarks/generation_speed.json
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import torch  # noqa: E402

PROMPTS = ["A dog in a field", "A treehouse at night", "An ocean sunset", "The Eiffel Tower", "A red bus on a bridge",
           "A bowl of fruit on a table", "A lighthouse in a storm", "Two cats on a sofa"]


def plain_loop(pipe, prompts, seeds, settings, batch_size: int, out_dir: Path) -> None:
    """What a diffusers user writes: batches through __call__, one generator per image, PNGs saved."""
    out_dir.mkdir(parents=True)
    with plain_options(pipe, settings):
        for start in range(0, len(prompts), batch_size):
            batch = range(start, min(start + batch_size, len(prompts)))
            generators = [torch.Generator(pipe.device).manual_seed(seeds[i]) for i in batch]
            images = pipe(prompt=[prompts[i] for i in batch], num_inference_steps=settings.num_steps,
                          guidance_scale=settings.guidance_scale, height=settings.height, width=settings.width,
                          generator=generators).images
            for i, image in zip(batch, images):
                image.save(out_dir / f"{i:06d}.png")


@contextlib.contextmanager
def plain_options(pipe, settings):
    """The speed options as diffusers' docs apply them (attention: sdpa is diffusers' own default)."""
    from diffusers.models.attention_processor import AttnProcessor

    unet = pipe.unet
    processors = {model: model.attn_processors for model in (pipe.unet, pipe.vae)}
    if settings.attention == "default":
        for model in (pipe.unet, pipe.vae):
            model.set_attn_processor(AttnProcessor())
    if settings.channels_last:
        pipe.unet.to(memory_format=torch.channels_last)
        pipe.vae.to(memory_format=torch.channels_last)
    if settings.compile:
        pipe.unet = torch.compile(pipe.unet)
    try:
        yield
    finally:
        pipe.unet = unet
        pipe.unet.to(memory_format=torch.contiguous_format)
        pipe.vae.to(memory_format=torch.contiguous_format)
        for model, saved in processors.items():
            model.set_attn_processor(saved)


def build(args):
    from sdprune.models.build import build_pipeline
    from sdprune.models.loading import load_pipeline, resolve_device, resolve_dtype, torch_dtype

    device = resolve_device(args.device)
    dtype = resolve_dtype(args.dtype, device)
    if args.model_dir:
        pipe = load_pipeline(args.model_dir, device=device, dtype=dtype)
    else:
        pipe = build_pipeline(args.model, seed=0, dtype=torch_dtype(dtype)).to(device)
    pipe.set_progress_bar_config(disable=True)  # both sides: a per-step bar is no part of the work
    return pipe, device, dtype


class PipelineClock:
    """Seconds spent inside the pipeline's __call__: what a side spends outside it (saving, bookkeeping)
    is its overhead, a figure the machine's noise barely touches, unlike the totals."""

    def __init__(self, pipe):
        self.seconds = 0.0
        original = type(pipe).__call__

        def clocked(pipeline, *args, **kwargs):
            seconds, result = timed(original, pipeline, *args, **kwargs)
            self.seconds += seconds
            return result

        type(pipe).__call__ = clocked  # on the class: Python looks __call__ up there, not on the instance

    def lap(self) -> float:
        seconds, self.seconds = self.seconds, 0.0
        return seconds


def timed(function, *args, **kwargs) -> tuple[float, object]:
    """Seconds ``function(*args)`` took (queued GPU work included) and what it returned."""
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    sync()
    started = time.perf_counter()
    result = function(*args, **kwargs)
    sync()
    return time.perf_counter() - started, result


def main() -> None:
    from sdprune.evaluation.generation import GenerationSettings, generate_images
    from sdprune.io import write_json
    from sdprune.seeding import derive_seed

    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    pipe, device, dtype = build(args)
    batch_size = args.batch_size if args.batch_size == "auto" else int(args.batch_size)
    settings = GenerationSettings(num_steps=args.steps, guidance_scale=7.5, height=args.height, width=args.width,
                                  batch_size=batch_size, seed=0, attention=args.attention, compile=args.compile,
                                  channels_last=args.channels_last)
    prompts = [PROMPTS[i % len(PROMPTS)] for i in range(args.num_prompts)]
    seeds = [derive_seed(settings.seed, i) for i in range(len(prompts))]
    work = Path(tempfile.mkdtemp(prefix="generation-speed-"))

    warm_ours, manifest = timed(generate_images, pipe, prompts, work / "warm-ours", settings)
    runtime = manifest["runtime"]
    batch = runtime["batch_size"]  # "auto" resolved by ours; the plain loop gets the same
    warm_plain, _ = timed(plain_loop, pipe, prompts, seeds, settings, batch, work / "warm-plain")
    print(f"warm-up (compilation included): ours {warm_ours:.1f} s, plain {warm_plain:.1f} s; batch {batch}", flush=True)
    clock = PipelineClock(pipe)
    ours, plain, ours_outside, plain_outside = [], [], [], []
    for repeat in range(args.repeats):
        seconds, _ = timed(generate_images, pipe, prompts, work / f"ours-{repeat}", settings)
        ours.append(seconds / len(prompts))
        ours_outside.append((seconds - clock.lap()) / len(prompts))
        seconds, _ = timed(plain_loop, pipe, prompts, seeds, settings, batch, work / f"plain-{repeat}")
        plain.append(seconds / len(prompts))
        plain_outside.append((seconds - clock.lap()) / len(prompts))
        print(f"repeat {repeat}: ours {ours[-1]:.3f} s/image ({ours_outside[-1] * 1e3:.1f} ms outside the pipeline), "
              f"plain {plain[-1]:.3f} s/image ({plain_outside[-1] * 1e3:.1f} ms)", flush=True)
    result = {
        "seconds_per_image": statistics.median(ours), "plain_seconds_per_image": statistics.median(plain),
        "speed_ratio": statistics.median(plain) / statistics.median(ours),
        "ours_repeats": ours, "plain_repeats": plain,
        "seconds_per_image_outside_pipeline": {"ours": statistics.median(ours_outside),
                                               "plain": statistics.median(plain_outside)}, "warm_up_seconds": {"ours": warm_ours, "plain": warm_plain},
        "device": str(device), "device_name": device_name(device), "model": args.model_dir or args.model,
        "settings": asdict(settings), "runtime": runtime, "num_prompts": len(prompts),
        "torch": torch.__version__, "command": " ".join(sys.argv),
    }
    print(f"ours {result['seconds_per_image']:.3f} s/image, plain diffusers {result['plain_seconds_per_image']:.3f} "
          f"s/image: ours at {result['speed_ratio']:.3f}x the plain loop's speed (target >= 0.97); "
          f"{args.model_dir or args.model}, {args.height}x{args.width} px, {args.steps} steps, {dtype}, batch {batch}, "
          f"{device_name(device)}", flush=True)
    outside = result["seconds_per_image_outside_pipeline"]
    print(f"outside the pipeline's __call__ (saving, bookkeeping): ours {outside['ours'] * 1e3:.1f} ms/image, "
          f"plain {outside['plain'] * 1e3:.1f} ms/image", flush=True)
    if args.output:
        write_json(args.output, result)
        print(f"figure for the estimate: {result['seconds_per_image']:.3f} s per image -> "
              f"python benchmarks/estimate_gpu_hours.py --measured {args.output}")


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or platform.machine())


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="sd2-random", help="a built-in model (built in memory, seed 0)")
    parser.add_argument("--model-dir", help="a saved pipeline instead (e.g. resources/models/<name>)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, or auto")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16", "auto"])
    parser.add_argument("--attention", default="sdpa", choices=["sdpa", "default"])
    parser.add_argument("--batch-size", default="2", help="an integer, or auto (the largest that fits the GPU)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the U-Net")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--num-prompts", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's choice)")
    parser.add_argument("--output", type=Path, help="write the measured figures here (JSON)")
    return parser.parse_args()


if __name__ == "__main__":
    main()
