"""FID through clean-fid, with the feature network loaded from a local folder.

clean-fid would download Inception at run time; we pass it an extractor built
from `resources/` instead (`custom_feat_extractor`), so GPU nodes run offline.

Two protocols (`scoring.fid_protocol`):

- "clean": clean-fid's default. Each image is resized to 299 x 299 with PIL bicubic on float
  channels (no uint8 rounding), then fed to the network in ``metrics_dir``.
- "paper": the released code's procedure (samarthramesh/SD2-Pruning; see `paper_pixels`):
  images go through the same lossy JPEG files the paper's images did, then pytorch-fid's
  Inception (pool3, 2048-d) reads them. Its numbers are the ones comparable to the paper's.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from sdprune.io import image_size, load_tensors, read_image

log = logging.getLogger(__name__)

INCEPTION_FILE = "inception-2015-12-05.pt"  # clean-fid's TorchScript Inception (protocol "clean")
PYTORCH_FID_FILE = "pt_inception-2015-12-05.safetensors"  # pytorch-fid's weights (protocol "paper")
STANDIN_FILE = "inception-standin.safetensors"
SCENE_NET_FILE = "scene-features.safetensors"  # the toy world's own network (scene_features.py)

PROTOCOLS = ("clean", "paper")
PAPER_SIZE = (299, 299)  # norm_images.py's target size, also pytorch-fid's input size


def jpeg_round_trip(image: Image.Image) -> Image.Image:
    """``image`` saved as a .jpg and opened again, as RGB.

    Saved with no options, i.e. PIL's defaults (quality 75, 4:2:0 chroma subsampling), because
    the released code calls ``image.save(path)`` with a .jpg name and nothing else. PIL writes
    the same bytes to a buffer as to a file, so this equals the file round trip (tested).
    """
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG")
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return decoded.convert("RGB")


def paper_pixels(path: str | Path) -> np.ndarray:
    """One image as pytorch-fid read it in the paper's FID, (299, 299, 3) uint8.

    The released code (Code/write_exp_scripts.py, the per-experiment scripts behind its
    results; Code/get_clip_score.py; Code/norm_images.py; main.py's setup_dataset):

    1. generated images: ``pipe(caption).images[0].save(<folder>/<COCO file name>.jpg)``, a JPEG
       at PIL's defaults. References are the COCO train2017 JPEGs, copied unchanged
       (``shutil.copy``). So a file already stored as JPEG is read as it is, and any other file
       (this project saves lossless PNGs) is first encoded as the paper's generated images were.
    2. norm_images.py, run on both folders: ``Image.open(p).convert("RGB").resize((299, 299),
       resample=Image.BICUBIC)`` (aspect ratio ignored), then ``.save()`` under the same .jpg
       name: a second JPEG at PIL's defaults.
    3. ``python -m pytorch_fid <coco>_norm <generated>_norm``: pytorch-fid opens each file with
       ``Image.open(p).convert("RGB")`` and ``ToTensor()`` (0-1); the network's own bilinear
       resize to 299 is then a no-op (see `load_feature_extractor`).

    (main.py, the README's entry point, passes the generated folder to pytorch-fid *without*
    step 2; the experiment scripts normalise both folders, and we follow them.)
    """
    stored = read_image(path)
    stored_as_jpeg = stored.format == "JPEG"
    image = stored.convert("RGB")
    if not stored_as_jpeg:  # step 1
        image = jpeg_round_trip(image)
    image = image.resize(PAPER_SIZE, resample=Image.BICUBIC)  # step 2
    return np.asarray(jpeg_round_trip(image))  # step 2's save, read back as in step 3


def fetch_inception(out_dir: str | Path, *, url: str | None = None) -> Path:
    """Download clean-fid's Inception weights into ``out_dir`` (atomically); ``url``: a mirror."""
    from cleanfid.downloads_helper import inception_url

    from sdprune.download import download

    return download(url or inception_url, Path(out_dir) / INCEPTION_FILE)


def fetch_pytorch_fid_inception(out_dir: str | Path, *, url: str | None = None) -> Path:
    """Download pytorch-fid's Inception state dict and store it as safetensors; ``url``: a mirror."""
    import tempfile

    from cleanfid.inception_pytorch import FID_WEIGHTS_URL

    from sdprune.download import download
    from sdprune.io import save_tensors

    with tempfile.TemporaryDirectory() as tmp:
        raw = download(url or FID_WEIGHTS_URL, Path(tmp) / "weights.pth")
        state = torch.load(raw, map_location="cpu", weights_only=True)  # tensors only, never arbitrary objects
    target = Path(out_dir) / PYTORCH_FID_FILE
    save_tensors(target, state)
    return target


def _pytorch_fid_inception(path: Path):
    """clean-fid's copy of pytorch-fid's network, with weights from disk instead of its URL."""
    from unittest import mock

    import torch.nn.functional as F
    from cleanfid import inception_pytorch

    state = load_tensors(path)
    with mock.patch.object(inception_pytorch, "load_state_dict_from_url", lambda *a, **k: state):
        model = inception_pytorch.InceptionV3(output_blocks=[3], resize_input=False)

    def forward(images: torch.Tensor) -> torch.Tensor:
        x = images / 255.0  # as pytorch-fid's ToTensor() on uint8 pixels
        # pytorch-fid's resize_input=True (the CLI's setting), done here since clean-fid's copy refuses it;
        # bilinear 299 -> 299 returns the input unchanged
        x = F.interpolate(x, size=PAPER_SIZE, mode="bilinear", align_corners=False)
        return model(x)[0].squeeze(-1).squeeze(-1)

    return model, forward


def load_feature_extractor(metrics_dir: str | Path, device: torch.device | str = "cpu"):
    """The FID feature network in ``metrics_dir``: real Inception if present, else our stand-in, or the
    toy world's scene network.

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
        from sdprune.evaluation.metrics.standins import load_standin_inception

        model = load_standin_inception(metrics_dir / STANDIN_FILE, device)
    elif (metrics_dir / SCENE_NET_FILE).exists():
        from sdprune.evaluation.metrics.scene_features import load_scene_net

        model = load_scene_net(metrics_dir / SCENE_NET_FILE, device).features
    else:
        raise FileNotFoundError(f"no FID feature network in {metrics_dir} (expected {PYTORCH_FID_FILE}, "
                                f"{INCEPTION_FILE}, {STANDIN_FILE} or {SCENE_NET_FILE})")

    @torch.no_grad()
    def extract(images: torch.Tensor) -> torch.Tensor:
        return model(images.to(device))

    return extract


def image_files(folder: str | Path) -> list[str]:
    """The image files clean-fid's get_folder_features reads (sorted, recursive), less its .npy arrays."""
    from glob import glob

    from cleanfid.utils import EXTENSIONS

    return sorted(file for ext in EXTENSIONS if ext != "npy"
                  for file in glob(str(Path(folder) / f"**/*.{ext}"), recursive=True))


class PaperImages(torch.utils.data.Dataset):
    """Images as the paper's pytorch-fid read them: float32 0-255 (3, 299, 299) tensors.

    float32 holds the integers exactly, so the extractor's ``/ 255`` gives what pytorch-fid's
    ToTensor() gives (clean-fid's ToTensor() * 255 would round first).
    """

    def __init__(self, files: list[str]) -> None:
        self.files = files

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.from_numpy(paper_pixels(self.files[i]).astype(np.float32)).permute(2, 0, 1)


def folder_features(folder: str | Path, extractor, *, device: torch.device | str = "cpu", batch_size: int = 32,
                    num_workers: int = 0, protocol: str = "clean", reference: bool = False) -> np.ndarray:
    """Features of every image in ``folder`` (sorted by name), (N, D) float64.

    ``reference`` marks the reference set. Neither protocol needs it any more: under "paper"
    the JPEG step a file gets follows from how it is stored (see `paper_pixels`), so a dense
    model's PNGs used as the reference are treated as the paper treated generated images.
    """
    from cleanfid.fid import get_batch_features, get_folder_features

    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown FID protocol {protocol!r}; expected one of {sorted(PROTOCOLS)}")
    device = torch.device(device)
    for file in image_files(folder):  # checksums first: clean-fid's reader would fail without naming the file
        image_size(file)
    if protocol == "clean":
        feats = get_folder_features(str(folder), model=extractor, num_workers=num_workers, batch_size=batch_size,
                                    device=device, mode="clean", verbose=False)
    else:
        files = image_files(folder)
        loader = torch.utils.data.DataLoader(PaperImages(files), batch_size=batch_size, shuffle=False,
                                             num_workers=num_workers)
        feats = [get_batch_features(batch, extractor, device) for batch in loader]
        feats = np.concatenate(feats) if feats else []
    if len(feats) == 0:
        raise ValueError(f"no images found in {folder}")
    return np.asarray(feats, dtype=np.float64)


def frechet_distance(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """FID of two feature sets (N, D): |mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^1/2).

    The same quantity clean-fid and pytorch-fid compute (unbiased covariances, float64), with the
    trace of the matrix square root taken from symmetric eigenvalues instead of scipy's `sqrtm`:
    S_a S_b has the eigenvalues of the PSD matrix S_a^1/2 S_b S_a^1/2, so tr (S_a S_b)^1/2 is the
    sum of their square roots. At D = 2048 that takes ~1 s where `sqrtm` takes ~10 s, and it
    needs no epsilon fix for singular covariances (tests/unit/test_metrics.py compares it with
    clean-fid's value).
    """
    mu_a, mu_b = feats_a.mean(axis=0), feats_b.mean(axis=0)
    cov_a, cov_b = np.cov(feats_a, rowvar=False), np.cov(feats_b, rowvar=False)
    values, vectors = np.linalg.eigh(cov_a)
    root_a = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T  # S_a^1/2, (D, D)
    product = root_a @ cov_b @ root_a
    trace_root = np.sqrt(np.clip(np.linalg.eigvalsh((product + product.T) / 2), 0, None)).sum()
    diff = mu_a - mu_b
    return float(diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_root)
