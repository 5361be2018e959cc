"""Speed options (batch size, channels-last, torch.compile), attention and dtype: the images they make.

Per-image generators make every initial latent independent of the batch, but the
denoising is not bit-exact across batch sizes on this CPU: oneDNN's convolutions
block the batch dimension differently (a U-Net output moves by ~2e-6 between a batch
of 1 and of 6; the linear layers and the text encoder are batch-invariant). After
8-bit quantisation that leaves a few pixel values one level apart. The bound
asserted below is the tightest that holds: at most one level, in at most 1 in 1,000
values (measured on these prompts: 4 to 10 values of 61,440, i.e. <= 1.6e-4).
"""

import numpy as np
import pytest
import torch
from PIL import Image

from sdprune.evaluation import generation
from sdprune.evaluation.generation import (
    BATCH_RECORD,
    CPU_AUTO_BATCH,
    GenerationSettings,
    batch_that_fits,
    generate_images,
    missing_compile_toolchain,
    partial_dir,
)
from sdprune.models.loading import load_pipeline, resolve_dtype

PROMPTS = ["A dog in a field", "A treehouse at night", "An ocean sunset"]
MAX_LEVELS = 1  # 8-bit levels an image value may move by under a speed option
MAX_FRACTION = 1e-3  # of the values that may move at all


def pixels(folder) -> np.ndarray:
    return np.stack([np.asarray(Image.open(p), dtype=np.int16) for p in sorted(folder.glob("*.png"))])


def difference(folder, reference) -> tuple[int, float]:
    """The largest move of an 8-bit value between two image sets, and the fraction of values that moved."""
    moved = np.abs(pixels(folder) - pixels(reference))
    return int(moved.max()), float((moved > 0).mean())


def same_up_to_rounding(folder, reference) -> bool:
    levels, fraction = difference(folder, reference)
    return levels <= MAX_LEVELS and fraction <= MAX_FRACTION


def assert_same_up_to_rounding(folder, reference) -> None:
    assert same_up_to_rounding(folder, reference), difference(folder, reference)


def generate(pipe, folder, prompts=PROMPTS, **options) -> dict:
    settings = GenerationSettings(num_steps=2, seed=7, **{"batch_size": 1, **options})
    return generate_images(pipe, prompts, folder, settings)


def test_initial_latents_do_not_depend_on_the_batch(tiny_pipe):
    def latents(indices):
        generators = [torch.Generator().manual_seed(100 + i) for i in indices]
        return tiny_pipe.prepare_latents(len(indices), 4, 64, 64, torch.float32, torch.device("cpu"), generators)

    together = latents([0, 1, 2])
    alone = torch.cat([latents([i]) for i in range(3)])
    assert torch.equal(together, alone)


def test_batch_size_moves_no_pixel_beyond_rounding(tiny_pipe, tmp_path):
    generate(tiny_pipe, tmp_path / "b1")
    for batch_size in (2, 3):
        manifest = generate(tiny_pipe, tmp_path / f"b{batch_size}", batch_size=batch_size)
        assert manifest["runtime"]["batch_size"] == batch_size
        assert_same_up_to_rounding(tmp_path / f"b{batch_size}", tmp_path / "b1")


def test_channels_last_moves_no_pixel_beyond_rounding_and_is_undone(tiny_pipe, tmp_path):
    generate(tiny_pipe, tmp_path / "contiguous", batch_size=3)
    manifest = generate(tiny_pipe, tmp_path / "channels_last", batch_size=3, channels_last=True)
    assert manifest["runtime"]["channels_last"] is True
    assert_same_up_to_rounding(tmp_path / "channels_last", tmp_path / "contiguous")
    assert tiny_pipe.unet.conv_in.weight.is_contiguous()  # the pipeline is handed back as it came


def test_attention_is_set_recorded_and_restored(tiny_pipe, tmp_path):
    before = {name: type(p) for name, p in tiny_pipe.unet.attn_processors.items()}
    sdpa = generate(tiny_pipe, tmp_path / "sdpa")
    explicit = generate(tiny_pipe, tmp_path / "default", attention="default")
    assert sdpa["runtime"]["attention"]["unet"] == sdpa["runtime"]["attention"]["vae"] == "AttnProcessor2_0"
    assert explicit["runtime"]["attention"]["unet"] == explicit["runtime"]["attention"]["vae"] == "AttnProcessor"
    assert {name: type(p) for name, p in tiny_pipe.unet.attn_processors.items()} == before
    assert_same_up_to_rounding(tmp_path / "default", tmp_path / "sdpa")  # the same attention, other kernels


def test_compile_runs_on_the_cpu_or_says_what_is_missing(tiny_pipe, tmp_path):
    unet = tiny_pipe.unet
    missing = missing_compile_toolchain(torch.device("cpu"))
    if missing:  # no C++ compiler here: the option must fail at once, saying so
        with pytest.raises(RuntimeError, match="generation.compile: inductor needs a C\\+\\+ compiler"):
            generate(tiny_pipe, tmp_path / "compiled", compile=True)
    else:
        generate(tiny_pipe, tmp_path / "eager", batch_size=3)
        manifest = generate(tiny_pipe, tmp_path / "compiled", batch_size=3, compile=True)
        assert manifest["runtime"]["compile"] is True
        assert_same_up_to_rounding(tmp_path / "compiled", tmp_path / "eager")
    assert tiny_pipe.unet is unet  # the compiled wrapper is gone either way


def test_compile_without_a_compiler_fails_before_generating(tiny_pipe, tmp_path, monkeypatch):
    monkeypatch.setattr(generation.shutil, "which", lambda name: None)
    monkeypatch.delenv("CXX", raising=False)
    with pytest.raises(RuntimeError, match=r"C\+\+ compiler on the CPU; none of \$CXX, g\+\+.*generation.compile: false"):
        generate(tiny_pipe, tmp_path / "compiled", compile=True)
    assert not list(partial_dir(tmp_path / "compiled").glob("*.png"))


def test_auto_batch_on_the_cpu_is_fixed_recorded_and_kept_on_resume(tiny_pipe, tmp_path):
    assert generate(tiny_pipe, tmp_path / "auto", batch_size="auto")["runtime"]["batch_size"] == min(CPU_AUTO_BATCH, 3)
    assert not (tmp_path / "auto" / BATCH_RECORD).exists()
    # An interrupted "auto" run chose 1: its resumption keeps that choice, and so its batches.
    partial_dir(tmp_path / "resumed").mkdir()
    (partial_dir(tmp_path / "resumed") / BATCH_RECORD).write_text('{"batch_size": 1}')
    assert generate(tiny_pipe, tmp_path / "resumed", batch_size="auto")["runtime"]["batch_size"] == 1


def test_batch_that_fits_extrapolates_the_probes():
    gib = 2**30
    # 1 image: 3 GiB, 2 images: 4 GiB -> 2 GiB fixed + 1 GiB per image; 10 GiB free -> 8 images.
    assert batch_that_fits(3 * gib, 4 * gib, budget=10 * gib) == 8
    assert batch_that_fits(3 * gib, 4 * gib, budget=10 * gib, cap=5) == 5
    assert batch_that_fits(3 * gib, 4 * gib, budget=1 * gib) == 1  # never below one
    assert batch_that_fits(3 * gib, 3 * gib, budget=1 * gib, cap=7) == 7  # no growth measured


def test_dtype_auto_is_float16_on_cuda_float32_on_the_cpu():
    assert resolve_dtype("auto", "cpu") == "float32"
    assert resolve_dtype("auto", torch.device("cuda")) == "float16"
    assert resolve_dtype("bfloat16", "cpu") == "bfloat16"
    with pytest.raises(ValueError, match="unknown dtype"):
        resolve_dtype("float8", "cpu")


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision_generates_on_the_cpu(tiny_model_dir, tiny_pipe, tmp_path, dtype):
    half = load_pipeline(tiny_model_dir, dtype=dtype)
    manifest = generate(half, tmp_path / dtype, PROMPTS[:1])
    generate(tiny_pipe, tmp_path / "float32", PROMPTS[:1])
    assert manifest["runtime"]["dtype"] == dtype
    assert pixels(tmp_path / dtype).shape == pixels(tmp_path / "float32").shape
    # Not a speed option: fewer mantissa bits move the images beyond the speed options' bound.
    assert not same_up_to_rounding(tmp_path / dtype, tmp_path / "float32")
