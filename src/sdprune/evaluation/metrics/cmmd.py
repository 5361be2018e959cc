"""CMMD (Jayasumana et al. 2024, "Rethinking FID"): MMD between CLIP image embeddings of two image sets.

As the released code defines it (google-research/cmmd: distance.py, embedding.py, io_util.py):

- embeddings: OpenAI CLIP ViT-L/14 at 336 px (scenic's `vit_l14_336px`; here open_clip's copy of the
  same weights, `ViT-L-14-336` / `openai`, fetched by `clip_score.fetch_clip`), L2-normalised. Each
  image is centre-cropped to a square, resized to 336 with PIL bicubic, scaled to [0, 1] and
  normalised with CLIP's mean and std.
- distance: MMD with a Gaussian RBF kernel exp(-|x - y|^2 / (2 sigma^2)), sigma = 10, times 1000.
  The released `mmd` takes the means over whole kernel matrices, diagonals included: the biased
  (minimum-variance, V-statistic) estimator, which its docstring names as such. We compute that
  estimator, so our numbers are the released code's; it is exactly 0 for a set against itself.

The released code also drops the images past the last full batch (a TPU convenience); we keep all.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from sdprune.io import read_image

SIGMA = 10.0  # the released code's _SIGMA: the RBF kernel's bandwidth
SCALE = 1000.0  # the released code's _SCALE: puts CMMD in a readable range
MODEL_NAME, PRETRAINED = "ViT-L-14-336", "openai"  # open_clip's name for the released embedding network
BLOCK_ROWS = 2048  # kernel matrices are summed in row blocks: 10,000 images never hold a 10k x 10k matrix


def _kernel_mean(a: np.ndarray, b: np.ndarray, gamma: float) -> float:
    """Mean of exp(-gamma |a_i - b_j|^2) over every pair (i, j), diagonals included. a (n, D), b (m, D)."""
    b_sq = (b * b).sum(axis=1)  # (m,)
    total = 0.0
    for start in range(0, len(a), BLOCK_ROWS):
        block = a[start:start + BLOCK_ROWS]  # (r, D)
        sq_dist = (block * block).sum(axis=1)[:, None] + b_sq[None, :] - 2.0 * block @ b.T  # (r, m)
        total += np.exp(-gamma * sq_dist).sum()
    return total / (len(a) * len(b))


def mmd(x: np.ndarray, y: np.ndarray, *, sigma: float = SIGMA, scale: float = SCALE) -> float:
    """``scale`` * MMD^2 of two embedding sets x (n, D) and y (m, D), the released code's estimator:
    mean k(x, x') + mean k(y, y') - 2 mean k(x, y), every mean over the full matrix."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"embeddings must be (n, D) and (m, D); got {x.shape} and {y.shape}")
    gamma = 1.0 / (2.0 * sigma ** 2)
    return float(scale * (_kernel_mean(x, x, gamma) + _kernel_mean(y, y, gamma) - 2.0 * _kernel_mean(x, y, gamma)))


def fetch_cmmd_clip(out_dir: str | Path) -> Path:
    """Download CMMD's embedding network (OpenAI CLIP ViT-L/14@336, via open_clip) as a local-dir folder."""
    from sdprune.evaluation.metrics.clip_score import fetch_clip

    return fetch_clip(out_dir, model_name=MODEL_NAME, pretrained=PRETRAINED)


def centre_crop_resize(image: Image.Image, size: int) -> Image.Image:
    """The released io_util's `_center_crop_and_resize`: the central square, PIL bicubic to ``size``."""
    width, height = image.size
    side = min(width, height)
    top, left = (height - side) // 2, (width - side) // 2
    return image.crop((left, top, left + side, top + side)).resize((size, size), resample=Image.BICUBIC)


class CmmdEmbedder:
    """L2-normalised CLIP image embeddings for CMMD, from an open_clip `local-dir` folder (the real
    ViT-L/14@336 or the seeded stand-in: the input size and normalisation come from the folder)."""

    def __init__(self, model_dir: str | Path, device: torch.device | str = "cpu"):
        import open_clip

        model_dir = Path(model_dir).resolve()
        self.device = torch.device(device)
        self.model = open_clip.create_model(f"local-dir:{model_dir}", device=self.device).eval()
        size = self.model.visual.image_size
        self.size = size[0] if isinstance(size, (tuple, list)) else int(size)
        preprocess = json.loads((model_dir / "open_clip_config.json").read_text()).get("preprocess_cfg", {})
        mean = preprocess.get("mean", open_clip.OPENAI_DATASET_MEAN)
        std = preprocess.get("std", open_clip.OPENAI_DATASET_STD)
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)

    def pixels(self, files: Sequence[str | Path]) -> torch.Tensor:
        """(B, 3, size, size) normalised pixels, as the released code feeds its network."""
        arrays = []
        for file in files:
            image = read_image(file).convert("RGB")
            arrays.append(np.asarray(centre_crop_resize(image, self.size), dtype=np.float32))
        batch = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2) / 255.0  # (B, 3, H, W) in [0, 1]
        return (batch - self.mean) / self.std

    @torch.no_grad()
    def embed(self, files: Sequence[str | Path], *, batch_size: int = 32) -> np.ndarray:
        """Embeddings of ``files`` in order, (N, D) float64, each of unit length."""
        if not files:
            raise ValueError("no images to embed")
        out = []
        for start in range(0, len(files), batch_size):
            pixels = self.pixels(files[start:start + batch_size]).to(self.device)
            out.append(self.model.encode_image(pixels, normalize=True).float().cpu())
        return torch.cat(out).numpy().astype(np.float64)


def folder_embeddings(folder: str | Path, embedder: CmmdEmbedder, *, batch_size: int = 32) -> np.ndarray:
    """Embeddings of every image in ``folder`` (the files FID reads, sorted by name), (N, D)."""
    from sdprune.evaluation.metrics.fid import image_files

    return embedder.embed(image_files(folder), batch_size=batch_size)
