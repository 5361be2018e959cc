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
    if min(wmin, wmax) <= 0:
        raise ValueError(f"timestep weights must be positive (a Hessian sums them), got wmin {wmin}, wmax {wmax}")
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


def call_steps(timesteps: Sequence) -> list[int]:
    """The denoising step each U-Net call of one sampling loop belongs to (step 0 the noisiest).

    A pipeline calls the U-Net once per entry of ``scheduler.timesteps``. Step i is the i-th
    denoising step in sampling order, the update from one noise level to the next (OBS-Diff's
    "step"), and a call belongs to the step whose update its output enters: that step's errors
    are what the later steps carry on. DDIM, Euler, LMS and DPM-Solver call the U-Net once per
    step. A second-order method lists a timestep twice in a row: the first call there evaluates
    the end of the step before it (its corrector), the second starts the next step. So PNDM's
    PLMS start ``[t0, t1, t1, t2, ...]`` is steps ``[0, 0, 1, 2, ...]`` (its step 0 averages the
    U-Net at t0 and at t1), and Heun's ``[t0, t1, t1, t2, t2, ...]`` is ``[0, 0, 1, 1, 2, ...]``.
    Extra calls at timesteps of their own (PNDM's Runge-Kutta warm-up, KDPM2's midpoints) read
    as extra steps: `DenoisingFeed.call_weights` refuses to weight those.
    """
    values = [float(t) for t in timesteps]
    steps, step = [], -1
    for k, t in enumerate(values):
        corrector = 0 < k < len(values) - 1 and values[k + 1] == t and values[k - 1] != t
        step += 0 if corrector else 1
        steps.append(step)
    return steps


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
    together; a pre-hook on the U-Net matches each call to the scheduler's entry
    it runs (calls are counted from the start of each sampling loop) and sets
    the weight of the denoising step that call belongs to (`call_steps`), so a
    scheduler that calls the U-Net more often than ``num_steps`` (PNDM) still
    weights every call by its step.
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
    wmin: float = 0.8  # `timestep_weights` range
    wmax: float = 1.2

    def call_weights(self, timesteps: Sequence) -> list[float]:
        """The weight of each U-Net call of a sampling loop over ``timesteps``."""
        steps = call_steps(timesteps)
        total = steps[-1] + 1
        if self.weighting != "uniform" and total != self.num_steps:
            # Weighting calls by a step count other than the sampler's would silently reweight them.
            raise RuntimeError(f"{len(steps)} U-Net calls at {[float(t) for t in timesteps]} make {total} denoising "
                               f"steps, not {self.num_steps}: this scheduler's calls cannot be matched to its steps "
                               "(e.g. PNDM's PRK warm-up; use skip_prk_steps)")
        weights = timestep_weights(total, self.weighting, wmin=self.wmin, wmax=self.wmax)
        return [weights[step] for step in steps]

    def _weigh_calls(self, state: CalibrationState, calls: list[float]):
        """A U-Net pre-hook: ``calls`` holds the timesteps of this sampling loop's calls so far."""
        def hook(module, args, kwargs):
            timesteps = self.pipe.scheduler.timesteps
            position, timestep = len(calls), called_timestep(args, kwargs)
            if position >= len(timesteps) or float(timesteps[position]) != timestep:
                raise RuntimeError(f"U-Net call {position} at timestep {timestep} is not entry {position} of the "
                                   f"scheduler's {[float(t) for t in timesteps]}")
            calls.append(timestep)
            state.weight = self.call_weights(timesteps)[position]
            state.forwards += 1

        return hook

    def __call__(self, state: CalibrationState, stop_after: nn.Module | None = None) -> None:
        timestep_weights(self.num_steps, self.weighting, wmin=self.wmin, wmax=self.wmax)  # bad settings fail first
        unet = self.pipe.unet
        calls: list[float] = []
        handle = unet.register_forward_pre_hook(self._weigh_calls(state, calls), with_kwargs=True)
        device = next(unet.parameters()).device
        try:
            for start in range(0, len(self.prompts), self.batch_size):
                prompts = list(self.prompts[start : start + self.batch_size])
                generators = [torch.Generator(device).manual_seed(int(s)) for s in self.seeds[start : start + len(prompts)]]
                calls.clear()  # a new sampling loop: its first call is the scheduler's first entry
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
        wmin=calibration.timestep_wmin,
        wmax=calibration.timestep_wmax,
        batch_size=calibration.batch_size,
        height=calibration.height,
        width=calibration.width,
    )


