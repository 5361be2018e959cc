"""Paired signals: each pruned image against the dense model's image of the same prompt and seed.

FID needs thousands of images; a paired comparison says how far a pruned model
drifted with a few hundred: CLIP image-image cosine, SSIM and PSNR per image.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from sdprune.io import CorruptFileError, image_size, read_image


def _pixels(path: Path) -> np.ndarray:
    return np.asarray(read_image(path).convert("RGB"))


def ssim_psnr(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """SSIM (channel-averaged) and PSNR in dB of two uint8 RGB images; PSNR of identical images is inf."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    ssim = structural_similarity(a, b, channel_axis=2, data_range=255)
    if np.array_equal(a, b):
        return float(ssim), float("inf")
    return float(ssim), float(peak_signal_noise_ratio(a, b, data_range=255))


@torch.no_grad()
def paired_metrics(images: Sequence[Path], references: Sequence[Path], clip_scorer, *, batch_size: int = 32) -> dict:
    """Per-image CLIP image similarity, SSIM and PSNR of ``images`` against ``references``."""
    if len(images) != len(references):
        raise ValueError(f"{len(images)} images but {len(references)} references")
    for image, reference in zip(images, references):  # else one would be resized to the other in silence
        size, twin = image_size(image), image_size(reference)
        if size != twin:
            raise CorruptFileError(image, f"{size} pixels, but its dense twin {reference} has {twin}")
    clip_sim = []
    for start in range(0, len(images), batch_size):
        a = clip_scorer.image_embeddings(images[start : start + batch_size])
        b = clip_scorer.image_embeddings(references[start : start + batch_size])
        clip_sim.append((a * b).sum(dim=-1).float().cpu())
    ssim, psnr = zip(*(ssim_psnr(_pixels(a), _pixels(b)) for a, b in zip(images, references)))
    return {"clip_image_similarity": torch.cat(clip_sim).numpy().astype(float).tolist(),
            "ssim": list(ssim), "psnr": list(psnr)}


def summarise(per_image: dict) -> dict:
    """Means (and, for PSNR, the median, robust to identical pairs' inf)."""
    out = {}
    for name, values in per_image.items():
        array = np.asarray(values, dtype=float)
        finite = array[np.isfinite(array)]
        out[f"{name}_mean"] = float(finite.mean()) if len(finite) else float("inf")
        if name == "psnr":
            out["psnr_median"] = float(np.median(array))
            out["identical_images"] = int((~np.isfinite(array)).sum())
    return out
