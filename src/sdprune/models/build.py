"""Pipelines built in code: `tiny` (CPU-sized), `sd2-random` (SD2-shaped), `toy` (untrained; see `models.toy`).

Both go through the same save/load path as a downloaded model, so everything
downstream is exercised offline.
"""

from __future__ import annotations

import gzip
import logging

import torch
from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from sdprune.models.architectures import BUILT_IN

log = logging.getLogger(__name__)


def build_tokenizer() -> CLIPTokenizer:
    """The real CLIP BPE tokenizer, built from the vocabulary file open_clip ships.

    Token ids equal open_clip's ViT-H-14 tokenizer; like SD2 it pads with "!" (id 0).
    """
    from open_clip.tokenizer import bytes_to_unicode, default_bpe

    lines = gzip.open(default_bpe()).read().decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1 : 49152 - 256 - 2 + 1]]
    byte_symbols = list(bytes_to_unicode().values())
    symbols = byte_symbols + [s + "</w>" for s in byte_symbols] + ["".join(m) for m in merges]
    symbols += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {symbol: index for index, symbol in enumerate(symbols)}
    return CLIPTokenizer(
        vocab=vocab,
        merges=merges,
        bos_token="<|startoftext|>",
        eos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        pad_token="!",
        model_max_length=77,
    )


def build_pipeline(source: str, *, seed: int = 0, dtype: torch.dtype = torch.float32) -> StableDiffusionPipeline:
    """Build a built-in pipeline with seeded random weights (`toy` untrained: `models.toy.training` trains it)."""
    if source not in BUILT_IN:
        raise ValueError(f"unknown built-in model {source!r}; expected one of {sorted(BUILT_IN)}")
    log.info("building %s pipeline (seed %d)", source, seed)
    return build_from_configs(BUILT_IN[source], seed=seed, dtype=dtype)


def build_from_configs(configs: dict, *, seed: int = 0, dtype: torch.dtype = torch.float32,
                       feature_extractor=None) -> StableDiffusionPipeline:
    """A pipeline of the real classes from per-component configs (unet, text_encoder, vae, scheduler)."""
    # Seed each component separately so changing one leaves the others' weights unchanged.
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(**configs["unet"])
    torch.manual_seed(seed + 1)
    text_encoder = CLIPTextModel(CLIPTextConfig(**configs["text_encoder"]))
    torch.manual_seed(seed + 2)
    vae = AutoencoderKL(**configs["vae"])
    tokenizer = build_tokenizer()
    # The pipeline pads every prompt to model_max_length: never more positions than the text encoder has.
    tokenizer.model_max_length = min(tokenizer.model_max_length, text_encoder.config.max_position_embeddings)
    pipe = StableDiffusionPipeline(
        unet=unet,
        text_encoder=text_encoder,
        vae=vae,
        tokenizer=tokenizer,
        scheduler=DDIMScheduler(**configs["scheduler"]),
        safety_checker=None,
        feature_extractor=feature_extractor,
        requires_safety_checker=False,
    )
    return pipe if dtype == torch.float32 else pipe.to(dtype=dtype)
