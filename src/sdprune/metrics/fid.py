"""FID through clean-fid, with the feature network loaded from a local folder.

clean-fid would download Inception at run time; we pass it an extractor built
from `resources/` instead (`custom_feat_extractor`), so GPU nodes run offline.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

log = logging.getLogger(__name__)

INCEPTION_FILE = "inception-2015-12-05.pt"  # clean-fid's TorchScript Inception
STANDIN_FILE = "inception-standin.safetensors"


def fetch_inception(out_dir: str | Path) -> Path:
    """Download clean-fid's Inception weights into ``out_dir`` (atomically)."""
    from cleanfid.downloads_helper import inception_url

    from ..io import atomic_path
    import urllib.request

    target = Path(out_dir) / INCEPTION_FILE
    with atomic_path(target) as tmp, urllib.request.urlopen(inception_url) as response:
        tmp.write_bytes(response.read())
    return target


def load_feature_extractor(metrics_dir: str | Path, device: torch.device | str = "cpu"):
    """The FID feature network in ``metrics_dir``: real Inception if present, else our stand-in.

    Returns a callable (B, 3, 299, 299) 0-255 float -> (B, D) features, as clean-fid expects.
    """
    metrics_dir = Path(metrics_dir)
    if (metrics_dir / INCEPTION_FILE).exists():
        from cleanfid.inception_torchscript import InceptionV3W

        # TorchScript archive (clean-fid's own format), loaded by torch.jit, not unpickled by us.
        model = InceptionV3W(str(metrics_dir), download=False, resize_inside=False).to(device).eval()
    elif (metrics_dir / STANDIN_FILE).exists():
        from .standins import load_standin_inception

        model = load_standin_inception(metrics_dir / STANDIN_FILE, device)
    else:
        raise FileNotFoundError(f"no FID feature network in {metrics_dir} (expected {INCEPTION_FILE} or {STANDIN_FILE})")

    @torch.no_grad()
    def extract(images: torch.Tensor) -> torch.Tensor:
        return model(images.to(device))

    return extract


def folder_features(folder: str | Path, extractor, *, device: torch.device | str = "cpu", batch_size: int = 32,
                    num_workers: int = 0, mode: str = "clean") -> np.ndarray:
    """Features of every image in ``folder`` (sorted by name), (N, D) float64."""
    from cleanfid.fid import get_folder_features

    feats = get_folder_features(str(folder), model=extractor, num_workers=num_workers, batch_size=batch_size,
                                device=torch.device(device), mode=mode, verbose=False)
    if len(feats) == 0:
        raise ValueError(f"no images found in {folder}")
    return np.asarray(feats, dtype=np.float64)


def frechet_distance(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    from cleanfid.fid import fid_from_feats

    return float(fid_from_feats(feats_a, feats_b))
