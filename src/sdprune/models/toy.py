"""A tiny text-to-image model trained from scratch on the toy scene world, on a CPU, in minutes.

It is made of the real classes (CLIPTextModel, UNet2DConditionModel,
AutoencoderKL, DDIMScheduler) so that ``save_pretrained`` /
``StableDiffusionPipeline.from_pretrained`` and every pruning path treat it
like a downloaded model, yet it actually draws what its captions ask for
(judged by ``sdprune.evaluation.scene_evaluator``).

Training has two stages, both on a fixed set of renders of
``scenes.scene(i, seed, "train")``:

1. the autoencoder, briefly, as a plain autoencoder (reconstruction loss, a
   negligible KL term): the images are flat colours, so a 4x downsampling to
   16 latent channels loses nothing the judge looks at, and a 16x16 latent keeps
   the U-Net cheap;
2. the U-Net and the text encoder jointly on the cached latents, with
   epsilon prediction and caption dropout for classifier-free guidance.

All randomness (initial weights, batch order, noise, timesteps, dropout) comes
from seeded generators, so the same seed gives the same weights on the same
machine and thread count.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import StableDiffusionPipeline
from tqdm.auto import tqdm

from ..evaluation import scenes
from .architectures import SD2_SCHEDULER
from .build import build_from_configs

log = logging.getLogger(__name__)

MAX_TOKENS = 24  # the longest caption is 19 tokens (three "cyan"s, two BPE pieces each) with BOS/EOS

TOY_VAE = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=("DownEncoderBlock2D",) * 3,  # three blocks: a 4x downsampling, 64 px -> 16x16 latents
    up_block_types=("UpDecoderBlock2D",) * 3,
    block_out_channels=(8, 16, 32),  # the full-resolution block dominates the cost: keep it narrow
    layers_per_block=1,
    latent_channels=16,  # 16 values per 4x4 patch: reconstruction is learned in hundreds of steps, not thousands
    norm_num_groups=8,
    sample_size=64,
    mid_block_add_attention=False,  # flat colours need no global mixing in the autoencoder
)

TOY_UNET = dict(
    sample_size=16,
    in_channels=16,
    out_channels=16,
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    block_out_channels=(32, 64, 128),  # text conditioning at 8x8 and 4x4, where attention is cheap
    layers_per_block=1,
    attention_head_dim=(2, 4, 4),  # diffusers' name for the number of heads
    cross_attention_dim=64,
    use_linear_projection=True,
    norm_num_groups=16,
)

TOY_TEXT_ENCODER = dict(
    vocab_size=49408,  # the real CLIP BPE vocabulary, so the real tokenizer drives it
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    max_position_embeddings=MAX_TOKENS,
    hidden_act="gelu",
    layer_norm_eps=1e-5,
    projection_dim=64,
    bos_token_id=0,
    eos_token_id=2,
    pad_token_id=1,
)

TOY_SCHEDULER = dict(SD2_SCHEDULER, prediction_type="epsilon")

TOY_CONFIGS = dict(unet=TOY_UNET, text_encoder=TOY_TEXT_ENCODER, vae=TOY_VAE, scheduler=TOY_SCHEDULER)


@dataclass
class ToyData:
    """Training examples: renders in [-1, 1], token ids, and (once encoded) scaled latents."""

    images: torch.Tensor  # (N, 3, 64, 64) float32
    ids: torch.Tensor  # (N, MAX_TOKENS) int64
    counts: torch.Tensor  # (N,) objects per scene
    latents: torch.Tensor | None = None  # (N, C, 16, 16), already multiplied by the VAE's scaling factor


def build_toy_pipeline(*, seed: int = 0, configs: dict | None = None) -> StableDiffusionPipeline:
    """An untrained toy pipeline whose tokenizer pads to ``MAX_TOKENS``, matching the position embeddings."""
    configs = configs or TOY_CONFIGS
    pipe = build_from_configs(configs, seed=seed)
    # The pipeline pads every prompt to model_max_length; more positions than the text encoder has would fail.
    pipe.tokenizer.model_max_length = configs["text_encoder"]["max_position_embeddings"]
    return pipe


def tokenize(tokenizer, captions: list[str]) -> torch.Tensor:
    """(N, L) ids padded exactly as StableDiffusionPipeline pads them, so training sees inference inputs."""
    return tokenizer(captions, padding="max_length", max_length=tokenizer.model_max_length,
                     truncation=True, return_tensors="pt").input_ids


def make_data(tokenizer, count: int, seed: int) -> ToyData:
    """Render ``count`` training scenes of stream ``seed`` once; batches are then drawn from this set."""
    chosen = scenes.scenes(count, seed=seed, split="train")
    pixels = np.stack([scenes.render(s) for s in chosen])  # (N, 64, 64, 3) uint8
    images = torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    ids = tokenize(tokenizer, [scenes.caption(s) for s in chosen])
    counts = torch.tensor([len(s.objects) for s in chosen])
    return ToyData(images=images, ids=ids, counts=counts)


def warmup_cosine(step: int, total: int, warmup: int) -> float:
    """LR multiplier: linear warm-up (Adam's early steps are noisy) then cosine decay to 10 %."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress))


def train_autoencoder(vae, data: ToyData, *, steps: int, batch_size: int, lr: float,
                      generator: torch.Generator, log_every: int = 100) -> None:
    """Fit the VAE as an autoencoder; the KL weight is tiny because only reconstructions are ever judged."""
    vae.train()
    optimizer = torch.optim.AdamW(vae.parameters(), lr=lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: warmup_cosine(s, steps, 50))
    bar = tqdm(range(steps), desc="train vae", unit="step")
    for step in bar:
        batch = data.images[torch.randint(len(data.images), (batch_size,), generator=generator)]
        posterior = vae.encode(batch).latent_dist
        # Sampling (not the mode) keeps the decoder tolerant of small latent errors from the U-Net.
        reconstruction = vae.decode(posterior.sample(generator=generator)).sample
        loss = F.mse_loss(reconstruction, batch) + 1e-6 * posterior.kl().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if (step + 1) % log_every == 0 or step + 1 == steps:
            bar.set_postfix(loss=f"{loss.item():.4f}")
            log.info("vae step %d/%d loss %.5f", step + 1, steps, loss.item())
    vae.eval()


@torch.no_grad()
def encode_latents(vae, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Posterior means of all images, scaled to unit variance; the factor is stored in the VAE config.

    StableDiffusionPipeline divides by ``vae.config.scaling_factor`` before decoding, so the U-Net
    works on unit-variance latents as in SD, and decoding stays correct after a save/load.
    """
    means = torch.cat([vae.encode(images[i:i + batch_size]).latent_dist.mode()
                       for i in range(0, len(images), batch_size)])
    factor = float(1.0 / means.std())
    vae.register_to_config(scaling_factor=factor)
    log.info("latents %s, scaling factor %.4f", tuple(means.shape), factor)
    return means * factor


def denoising_loss(pipe, latents, ids, generator: torch.Generator) -> torch.Tensor:
    """The SD training objective on one batch: noise the latents at random timesteps, predict the target."""
    scheduler = pipe.scheduler
    noise = torch.randn(latents.shape, generator=generator)
    timesteps = torch.randint(scheduler.config.num_train_timesteps, (len(latents),), generator=generator)
    noisy = scheduler.add_noise(latents, noise, timesteps)
    if scheduler.config.prediction_type == "v_prediction":
        target = scheduler.get_velocity(latents, noise, timesteps)
    else:
        target = noise
    context = pipe.text_encoder(ids)[0]  # last_hidden_state, as the pipeline feeds it to the U-Net
    prediction = pipe.unet(noisy, timesteps, encoder_hidden_states=context).sample
    return F.mse_loss(prediction, target)


def train_denoiser(pipe, data: ToyData, *, steps: int, batch_size: int, lr: float, caption_dropout: float,
                   generator: torch.Generator, log_every: int = 100) -> None:
    """Train the U-Net and the text encoder together; dropped captions become the empty prompt."""
    empty = tokenize(pipe.tokenizer, [""])  # (1, L): what the pipeline encodes as the unconditional prompt
    parameters = list(pipe.unet.parameters()) + list(pipe.text_encoder.parameters())
    optimizer = torch.optim.AdamW(parameters, lr=lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: warmup_cosine(s, steps, min(200, steps // 10)))
    pipe.unet.train()
    pipe.text_encoder.train()
    bar = tqdm(range(steps), desc="train unet+text", unit="step")
    running = None
    for step in bar:
        index = torch.randint(len(data.latents), (batch_size,), generator=generator)
        ids = data.ids[index]
        dropped = torch.rand(batch_size, generator=generator) < caption_dropout
        ids = torch.where(dropped[:, None], empty, ids)
        loss = denoising_loss(pipe, data.latents[index], ids, generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)  # early steps with random text features spike
        optimizer.step()
        schedule.step()
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        if (step + 1) % log_every == 0 or step + 1 == steps:
            bar.set_postfix(loss=f"{running:.4f}")
            log.info("denoiser step %d/%d loss %.5f (smoothed)", step + 1, steps, running)
    pipe.unet.eval()
    pipe.text_encoder.eval()


def train_toy_pipeline(*, seed: int = 0, steps: int = 1500, batch_size: int = 32, log_every: int = 100,
                       lr: float = 1e-3, vae_steps: int = 600, vae_batch_size: int = 16, vae_lr: float = 2e-3,
                       num_scenes: int = 8192, caption_dropout: float = 0.1,
                       configs: dict | None = None) -> StableDiffusionPipeline:
    """Build and train the toy pipeline; the same arguments give the same weights on the same machine."""
    start = time.perf_counter()
    pipe = build_toy_pipeline(seed=seed, configs=configs)
    data = make_data(pipe.tokenizer, num_scenes, seed)
    generator = torch.Generator().manual_seed(seed)  # the only source of randomness during training
    train_autoencoder(pipe.vae, data, steps=vae_steps, batch_size=vae_batch_size, lr=vae_lr,
                      generator=generator, log_every=log_every)
    data.latents = encode_latents(pipe.vae, data.images)
    train_denoiser(pipe, data, steps=steps, batch_size=batch_size, lr=lr, caption_dropout=caption_dropout,
                   generator=generator, log_every=log_every)
    log.info("trained toy pipeline in %.1f s", time.perf_counter() - start)
    return pipe
