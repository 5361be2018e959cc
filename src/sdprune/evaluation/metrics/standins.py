"""Small seeded feature networks that stand in for Inception and CLIP offline.

They exercise the real clean-fid and open_clip code paths on a CPU without any
downloaded weights. Their numbers are NOT comparable to published FID or CLIP
scores: they only rank image sets by how far apart they are.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from sdprune.io import atomic_directory, load_tensors, save_tensors

STANDIN_CLIP_CONFIG = {
    "model_cfg": {
        "embed_dim": 32,
        "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16, "head_width": 32},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
    },
    "preprocess_cfg": {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25], "interpolation": "bicubic",
                       "resize_mode": "shortest"},
}


class StandinInception(nn.Module):
    """Random conv features: 0-255 images (B, 3, H, W) -> (B, 64) features.

    A 4x4 grid of pooled responses keeps the features sensitive to layout as well
    as colour, so FID is not degenerate; the x100 scale only puts stand-in FIDs
    in a readable range (a set against itself ~0, against a noised copy ~10-100).
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 5, stride=2, padding=2)
        self.conv2 = nn.Conv2d(16, 4, 3, stride=2, padding=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(images / 127.5 - 1.0, size=(64, 64), mode="bilinear", antialias=True, align_corners=False)
        h = torch.tanh(self.conv2(torch.tanh(self.conv1(x))))  # (B, 4, 16, 16)
        return F.adaptive_avg_pool2d(h, 4).flatten(1) * 100.0  # (B, 64)


def build_standin_inception(seed: int = 0) -> StandinInception:
    torch.manual_seed(seed)
    return StandinInception().eval()


def save_standin_inception(out_dir: str | Path, *, seed: int = 0) -> Path:
    """Write the FID stand-in as `inception-standin.safetensors` in ``out_dir``."""
    out_dir = Path(out_dir)
    with atomic_directory(out_dir) as tmp:
        save_tensors(tmp / "inception-standin.safetensors", build_standin_inception(seed).state_dict(),
                     {"kind": "sdprune-standin-inception"})
    return out_dir


def save_standin_clip(out_dir: str | Path, *, seed: int = 0) -> Path:
    """Write the CLIP stand-in as an open_clip `local-dir` folder (config + safetensors)."""
    import open_clip

    out_dir = Path(out_dir)
    with atomic_directory(out_dir) as tmp:
        torch.manual_seed(seed + 1)
        model = open_clip.model.CLIP(**STANDIN_CLIP_CONFIG["model_cfg"])
        save_tensors(tmp / "open_clip_model.safetensors", model.state_dict())
        (tmp / "open_clip_config.json").write_text(json.dumps(STANDIN_CLIP_CONFIG, indent=2))
    return out_dir


def load_standin_inception(path: str | Path, device: torch.device | str = "cpu") -> StandinInception:
    model = StandinInception()
    model.load_state_dict(load_tensors(path))
    return model.to(device).eval()
