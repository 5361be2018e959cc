"""Feeds: what runs the model during calibration, and how much each forward counts.

`TextEncoderFeed` runs text-encoder forwards over tokenised calibration prompts;
`DenoisingFeed` runs the pipeline's denoising loop with classifier-free guidance
and weights each U-Net call by its step (`timestep_weights`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn as nn

from sdprune.pruning.calibration.hooks import CalibrationState, StopForward
from sdprune.pruning.calibration.settings import CalibrationSettings
from sdprune.seeding import derive_calibration_seed


def timestep_weights(num_steps: int, scheme: str = "uniform", *, wmin: float = 0.8, wmax: float = 1.2) -> list[float]:
    """Weight of each denoising step (step 0 is the noisiest).

    ``log_decrease`` is OBS-Diff's ``w_i = wmin + (wmax - wmin) * ln(T - i) / ln T``:
    early steps count more, since their errors accumulate through later steps.
    """
    if scheme == "uniform":
        return [1.0] * num_steps
    if scheme == "log_decrease":
        if num_steps == 1:
            return [wmax]
        return [wmin + (wmax - wmin) * math.log(num_steps - i) / math.log(num_steps) for i in range(num_steps)]
    raise ValueError(f"unknown timestep weighting {scheme!r}; expected 'uniform' or 'log_decrease'")


@dataclass
class TextEncoderFeed:
    """Text-encoder forwards over tokenised calibration prompts.

    input_ids: (P, T) token ids, padded to T (77 for SD2). By default every
    position counts, padding included, as in the paper's code.
    """

    text_encoder: nn.Module
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    batch_size: int = 1
    count_padding: bool = True

    def __call__(self, state: CalibrationState, stop_after: nn.Module | None = None) -> None:
        device = next(self.text_encoder.parameters()).device
        with torch.no_grad():
            for start in range(0, self.input_ids.shape[0], self.batch_size):
                ids = self.input_ids[start : start + self.batch_size].to(device)
                mask = self.attention_mask[start : start + self.batch_size]
                state.row_mask = None if self.count_padding else mask.reshape(-1).bool()
                state.forwards += 1
                try:
                    self.text_encoder(ids)
                except StopForward:
                    pass


def step_indices(timesteps: Sequence) -> dict[float, int]:
    """Timestep value -> denoising step index: distinct values, descending (step 0 the noisiest).

    A scheduler may call the U-Net more than once at a timestep (PNDM repeats one);
    each call at that timestep belongs to the same step.
    """
    distinct = sorted({float(t) for t in timesteps}, reverse=True)
    return {t: i for i, t in enumerate(distinct)}


def called_timestep(args: tuple, kwargs: dict) -> float:
    """The timestep a U-Net forward is called with (second positional argument or ``timestep=``)."""
    timestep = kwargs["timestep"] if "timestep" in kwargs else args[1]
    if isinstance(timestep, torch.Tensor):
        timestep = timestep.reshape(-1)[0].item()  # one timestep for the whole batch
    return float(timestep)


@dataclass
class DenoisingFeed:
    """Full pipeline calls (latents only, no VAE decode) with classifier-free guidance.

    The U-Net runs once per call on the conditional and unconditional batch
    together; a pre-hook on the U-Net reads the timestep of the call and sets the
    weight of its step, so schedulers that call the U-Net more often than
    ``num_steps`` (PNDM) still weight every call by the step it belongs to.
    """

    pipe: object
    prompts: Sequence[str]
    num_steps: int
    guidance_scale: float
    seeds: Sequence[int]
    weighting: str = "uniform"  # a `timestep_weights` scheme
    batch_size: int = 1
    height: int | None = None
    width: int | None = None

    def _set_step_weight(self, state: CalibrationState):
        def hook(module, args, kwargs):
            steps = step_indices(self.pipe.scheduler.timesteps)
            timestep = called_timestep(args, kwargs)
            if timestep not in steps:
                raise RuntimeError(f"U-Net called at timestep {timestep}, not among the scheduler's {sorted(steps)}")
            state.weight = timestep_weights(len(steps), self.weighting)[steps[timestep]]
            state.forwards += 1

        return hook

    def __call__(self, state: CalibrationState, stop_after: nn.Module | None = None) -> None:
        timestep_weights(self.num_steps, self.weighting)  # an unknown scheme fails before any work
        unet = self.pipe.unet
        handle = unet.register_forward_pre_hook(self._set_step_weight(state), with_kwargs=True)
        device = next(unet.parameters()).device
        try:
            for start in range(0, len(self.prompts), self.batch_size):
                prompts = list(self.prompts[start : start + self.batch_size])
                generators = [torch.Generator(device).manual_seed(int(s)) for s in self.seeds[start : start + len(prompts)]]
                self.pipe(
                    prompt=prompts,
                    num_inference_steps=self.num_steps,
                    guidance_scale=self.guidance_scale,
                    generator=generators,
                    height=self.height,
                    width=self.width,
                    output_type="latent",
                    return_dict=True,
                )
        finally:
            handle.remove()

def make_feed(pipe, component: str, calibration: CalibrationSettings, prompts: Sequence[str]):
    """The calibration feed for a component: text-encoder forwards or denoising loops."""
    prompts = list(prompts)
    if not prompts:
        raise ValueError("this method needs calibration prompts, and none were given")
    if component == "text_encoder":
        # A text encoder with fewer positions (the toy model's 24) cannot take more tokens than it has.
        max_length = min(calibration.max_length, pipe.text_encoder.config.max_position_embeddings)
        tokens = pipe.tokenizer(prompts, padding="max_length", max_length=max_length, truncation=True,
                                return_tensors="pt")
        return TextEncoderFeed(
            pipe.text_encoder, tokens.input_ids, tokens.attention_mask,
            batch_size=calibration.batch_size, count_padding=calibration.count_padding,
        )
    pipe.set_progress_bar_config(disable=True)
    return DenoisingFeed(
        pipe, prompts,
        num_steps=calibration.num_steps,
        guidance_scale=calibration.guidance_scale,
        # Not the evaluation images' seeds: calibration must not denoise from their starting noise.
        seeds=[derive_calibration_seed(calibration.seed, i) for i in range(len(prompts))],
        weighting=calibration.timestep_weighting,
        batch_size=calibration.batch_size,
        height=calibration.height,
        width=calibration.width,
    )


