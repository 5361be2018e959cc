"""The outside world of `config.yaml`, in stand-ins with the real identifiers and file formats.

`build_world(root)` writes, under ``root``:

- ``hub/``: Hugging Face repositories, served by `sdprune.rehearsal.hub`:
  - ``stabilityai/stable-diffusion-2``: a Stable Diffusion 2 pipeline (768-v layout: v-prediction
    DDIM scheduler, linear-projection transformer blocks, OpenCLIP-style text encoder, the real CLIP
    BPE tokenizer, a CLIPImageProcessor) at toy size, random seeded weights, saved with
    `save_pretrained` in fp32 safetensors as the hub's main branch holds it;
  - ``visheratin/laion-coco-nllb``: a parquet dataset with the real split (`train`) and fields
    (`eng_caption`, ...);
  - OpenAI CLIP ViT-B/32 as open_clip downloads it (right architecture, stand-in weights);
- ``http/``: files of plain download servers, served by `sdprune.rehearsal.serve`: the three COCO
  2017 archives at their official paths, clean-fid's TorchScript Inception and pytorch-fid's
  Inception weights (right architecture, stand-in weights).

Nothing here is a trained model: images are noise and metrics rank nothing. The world exists so
that the project's unchanged download and loading code runs end to end offline.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from sdprune.io import atomic_directory, write_json
from sdprune.models.architectures import SD2_SCHEDULER, SD2_TEXT_ENCODER, SD2_UNET, SD2_VAE
from sdprune.rehearsal.coco import COLOURS, SHAPES, build_coco_mirror

log = logging.getLogger(__name__)

SD2_REPO = "stabilityai/stable-diffusion-2"
ROOT_CHECKPOINT = "768-v-ema.safetensors"  # the single-file checkpoint beside the diffusers folders
CALIBRATION_DATASET = "visheratin/laion-coco-nllb"
FID_FILES = {"clean": "fid/inception-2015-12-05.pt", "paper": "fid/pt_inception-2015-12-05-6726825d.pth"}

# Stable Diffusion 2 (768-v) at toy size: every block type, the same heads layout and scheduler.
SD2_TOY = {
    "unet": dict(SD2_UNET, sample_size=8, block_out_channels=(32, 32, 64, 64), attention_head_dim=(2, 2, 4, 4),
                 cross_attention_dim=64),
    "text_encoder": dict(SD2_TEXT_ENCODER, hidden_size=64, intermediate_size=256, num_hidden_layers=4,
                         num_attention_heads=4, projection_dim=64),
    "vae": dict(SD2_VAE, block_out_channels=(8, 16, 16, 16), layers_per_block=1, norm_num_groups=8, sample_size=64),
    "scheduler": SD2_SCHEDULER,
}


def hub_repo_dir(hub_root: Path, kind: str, repo_id: str) -> Path:
    """Where `sdprune.rehearsal.hub` serves a repository from: <root>/<models|datasets>/<org>/<name>."""
    return Path(hub_root) / kind / repo_id


def write_sd2_repo(repo_dir: Path, *, seed: int = 0) -> None:
    """The toy SD2 pipeline as the hub repository's files."""
    from transformers import CLIPImageProcessor

    from sdprune.models.build import build_from_configs

    pipe = build_from_configs(SD2_TOY, seed=seed, feature_extractor=CLIPImageProcessor(crop_size=224, size=224))
    with atomic_directory(repo_dir) as tmp:
        # The hub repo also holds fp16 variants and the original single-file checkpoint at its root;
        # a run must not download them (SD2's is 5 GB). Variants first: the fp32 save rewrites configs.
        pipe.to(torch.float16).save_pretrained(tmp, safe_serialization=True, variant="fp16")
        pipe.to(torch.float32).save_pretrained(tmp, safe_serialization=True)
        save_file({"stand_in": torch.zeros(4)}, str(tmp / ROOT_CHECKPOINT))
        (tmp / "README.md").write_text("---\nlicense: openrail++\n---\n# sdprune rehearsal stand-in for "
                                       f"{SD2_REPO} (toy size, random weights)\n")


def calibration_captions(count: int, seed: int = 0) -> list[str]:
    """LAION-COCO-style captions, distinct from the COCO stand-in's wording."""
    rng = np.random.RandomState(seed + 100)
    things = ["a painting of", "a photo of", "an illustration of", "a close up of", "a drawing of"]
    return [f"{rng.choice(things)} a {rng.choice(list(COLOURS))} {rng.choice(SHAPES)} and "
            f"a {rng.choice(list(COLOURS))} {rng.choice(SHAPES)} #{i}" for i in range(count)]


def write_laion_dataset(repo_dir: Path, *, rows: int = 256, seed: int = 0) -> None:
    """A parquet dataset with laion-coco-nllb's split and fields (id, url, eng_caption, captions, score)."""
    import pandas as pd

    captions = calibration_captions(rows, seed)
    frame = pd.DataFrame({
        "id": [f"{i:08x}" for i in range(rows)],
        "url": [f"https://example.invalid/{i}.jpg" for i in range(rows)],
        "eng_caption": captions,
        "captions": [[["fra_Latn", f"(fr) {c}"], ["deu_Latn", f"(de) {c}"]] for c in captions],
        "score": np.random.RandomState(seed).uniform(0.3, 0.5, rows),
    })
    with atomic_directory(repo_dir) as tmp:
        (tmp / "data").mkdir()
        frame.to_parquet(tmp / "data" / "train-00000-of-00001.parquet", index=False)
        (tmp / "README.md").write_text("---\nlicense: cc-by-nc-4.0\ntask_categories: [image-to-text]\n---\n"
                                       f"# sdprune rehearsal stand-in for {CALIBRATION_DATASET}\n")


def write_fid_networks(http_dir: Path, *, seed: int = 0) -> None:
    from sdprune.rehearsal.metric_standins import write_cleanfid_inception, write_pytorch_fid_weights

    write_cleanfid_inception(http_dir / FID_FILES["clean"], seed=seed)
    write_pytorch_fid_weights(http_dir / FID_FILES["paper"], seed=seed)


def build_world(root: str | Path, *, seed: int = 0) -> dict:
    """Write every stand-in under ``root`` (once: a finished world is reused) and return its manifest."""
    root = Path(root)
    manifest_path = root / "world.json"
    if manifest_path.exists():
        return json.loads(manifest_path.read_text())
    from sdprune.rehearsal.metric_standins import openai_clip_hub_id, write_openai_clip_repo

    torch.set_num_threads(max(torch.get_num_threads(), 1))
    log.info("building the stand-in world in %s", root)
    write_sd2_repo(hub_repo_dir(root / "hub", "models", SD2_REPO), seed=seed)
    write_laion_dataset(hub_repo_dir(root / "hub", "datasets", CALIBRATION_DATASET), seed=seed)
    clip_repo = openai_clip_hub_id()
    # Only the safetensors file: open_clip asks for it first, so the .bin beside it on the hub is never read.
    write_openai_clip_repo(hub_repo_dir(root / "hub", "models", clip_repo), seed=seed, include_bin=False)
    write_fid_networks(root / "http", seed=seed)
    coco_md5 = build_coco_mirror(root / "http", seed=seed)
    manifest = {"seed": seed, "coco_md5": coco_md5, "fid_files": FID_FILES, "clip_repo": clip_repo,
                "repos": [SD2_REPO, CALIBRATION_DATASET]}
    write_json(manifest_path, manifest)  # written last: its presence means the world is complete
    return manifest
