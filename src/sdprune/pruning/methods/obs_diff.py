"""OBS-Diff (Zhu et al., 2025): OBS pruning of a diffusion model with a timestep-aware Hessian.

The update is SparseGPT's column-block OBS (`_obs.obs_prune`). What makes it OBS-Diff
is the calibration the method asks for, `ObsDiffSettings`:

1. the Hessian of each layer is ``H = 2 sum_t w_t X_t^T X_t / sum_t (w_t n_t)`` over the
   U-Net calls of full classifier-free-guidance sampling runs of the calibration
   prompts, ``w_i = wmin + (wmax - wmin) ln(T - i) / ln T`` for the i-th denoising step
   (step 0 the noisiest: its errors are carried through every later step);
2. the layers are pruned in K groups of whole blocks in network order, each group
   calibrated on the model with the groups before it already pruned;
3. its layers are OBS-Diff's by default: the attention and feed-forward Linears of
   the transformer blocks (scope `transformer`).

``uniform`` weighting with one group is SparseGPT, bit for bit, on the same statistics.
Steps 1 and 2 apply to the U-Net, which alone has denoising steps; a text encoder is
calibrated as the config's calibration says for any Hessian method.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from sdprune.pruning.calibration.settings import CalibrationSettings
from sdprune.pruning.masks import Pattern
from sdprune.pruning.methods import Method
from sdprune.pruning.methods._obs import obs_prune


@dataclass(frozen=True)
class ObsDiffSettings:
    """OBS-Diff's calibration (the paper's defaults); the config's `pruning.obs_diff` overrides them."""

    weighting: str = "log_decrease"  # or "uniform" (the ablation)
    groups: int = 4  # K sequential groups of U-Net blocks; 0: one per block
    wmin: float = 0.8  # weight of the last denoising step
    wmax: float = 1.2  # weight of the first (noisiest) one

    def overrides(self, component: str) -> dict:
        """The `CalibrationSettings` fields OBS-Diff sets for ``component``: none for a text encoder.
        Its K groups are sequential by definition (K = 1: one group, nothing before it)."""
        if component != "unet":
            return {}
        return {"timestep_weighting": self.weighting, "groups": self.groups, "sequential": True,
                "timestep_wmin": self.wmin, "timestep_wmax": self.wmax}

    def calibration(self, base: CalibrationSettings, component: str) -> CalibrationSettings:
        """``base`` with OBS-Diff's step weighting and groups (the U-Net's; a text encoder's unchanged)."""
        return dataclasses.replace(base, **self.overrides(component))


DEFAULTS = ObsDiffSettings()


def prune_layer(weight: torch.Tensor, stats, sparsity: float, pattern: Pattern):
    """weight: (out, in) float32, stats: its timestep-weighted Hessian; returns (updated weight, keep-mask)."""
    return obs_prune(weight, stats.hessian(), sparsity, pattern)


METHOD = Method("obs_diff", statistics="hessian", prune_layer=prune_layer, updates_weights=True,
                default_scope="transformer", own_calibration=DEFAULTS.calibration,
                description="OBS with weight update on a timestep-weighted Hessian, K sequential groups")
