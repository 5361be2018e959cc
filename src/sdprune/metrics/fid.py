"""FID through clean-fid, with the feature network loaded from a local folder.

clean-fid would download Inception at run time; we pass it an extractor built
from `resources/` instead (`custom_feat_extractor`), so GPU nodes run offline.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from ..io import load_tensors

log = logging.getLogger(__name__)

INCEPTION_FILE = "inception-2015-12-05.pt"  # clean-fid's TorchScript Inception (protocol "clean")
PYTORCH_FID_FILE = "pt_inception-2015-12-05.safetensors"  # pytorch-fid's weights (protocol "paper")
STANDIN_FILE = "inception-standin.safetensors"

# How images reach the feature network. "clean": clean-fid's default (PIL bicubic resize).
# "paper": the paper's pytorch-fid set-up: references stretch-resized to 299x299 bicubic first,
# then pytorch-fid's own bilinear tensor resize (clean-fid's legacy_pytorch mode) for every image.
PROTOCOLS = {"clean": "clean", "paper": "legacy_pytorch"}


def stretch_to_299(image: np.ndarray) -> np.ndarray:
    """The paper's reference preprocessing: ignore the aspect ratio, bicubic to 299 x 299."""
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((299, 299), Image.BICUBIC))


def fetch_inception(out_dir: str | Path) -> Path:
    """Download clean-fid's Inception weights into ``out_dir`` (atomically)."""
    from cleanfid.downloads_helper import inception_url

    from ..io import atomic_path
    import urllib.request

    target = Path(out_dir) / INCEPTION_FILE
    with atomic_path(target) as tmp, urllib.request.urlopen(inception_url) as response:
        tmp.write_bytes(response.read())
    return target


def fetch_pytorch_fid_inception(out_dir: str | Path) -> Path:
    """Download pytorch-fid's Inception state dict and store it as safetensors."""
    import tempfile
    import urllib.request

    from cleanfid.inception_pytorch import FID_WEIGHTS_URL

    from ..io import save_tensors

    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "weights.pth"
        urllib.request.urlretrieve(FID_WEIGHTS_URL, raw)
        state = torch.load(raw, map_location="cpu", weights_only=True)
    target = Path(out_dir) / PYTORCH_FID_FILE
    save_tensors(target, state)
    return target


def _pytorch_fid_inception(path: Path):
    """clean-fid's copy of pytorch-fid's network, with weights from disk instead of its URL."""
    from unittest import mock

    from cleanfid import inception_pytorch

    state = load_tensors(path)
    with mock.patch.object(inception_pytorch, "load_state_dict_from_url", lambda *a, **k: state):
        model = inception_pytorch.InceptionV3(output_blocks=[3], resize_input=False)

    def forward(images: torch.Tensor) -> torch.Tensor:
        return model(images / 255.0)[0].squeeze(-1).squeeze(-1)

    return model, forward


def load_feature_extractor(metrics_dir: str | Path, device: torch.device | str = "cpu"):
    """The FID feature network in ``metrics_dir``: real Inception if present, else our stand-in.

    Returns a callable (B, 3, 299, 299) 0-255 float -> (B, D) features, as clean-fid expects.
    """
    metrics_dir = Path(metrics_dir)
    if (metrics_dir / PYTORCH_FID_FILE).exists():
        model, forward = _pytorch_fid_inception(metrics_dir / PYTORCH_FID_FILE)
        model.to(device).eval()

        @torch.no_grad()
        def extract_legacy(images: torch.Tensor) -> torch.Tensor:
            return forward(images.to(device))

        return extract_legacy
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
                    num_workers: int = 0, protocol: str = "clean", reference: bool = False) -> np.ndarray:
    """Features of every image in ``folder`` (sorted by name), (N, D) float64.

    ``reference`` marks the real-image set, which the "paper" protocol stretch-resizes first.
    """
    from cleanfid.fid import get_folder_features

    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown FID protocol {protocol!r}; expected one of {sorted(PROTOCOLS)}")
    transform = stretch_to_299 if (protocol == "paper" and reference) else None
    feats = get_folder_features(str(folder), model=extractor, num_workers=num_workers, batch_size=batch_size,
                                device=torch.device(device), mode=PROTOCOLS[protocol], verbose=False,
                                custom_image_tranform=transform)
    if len(feats) == 0:
        raise ValueError(f"no images found in {folder}")
    return np.asarray(feats, dtype=np.float64)


def frechet_distance(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    from cleanfid.fid import fid_from_feats

    return float(fid_from_feats(feats_a, feats_b))
