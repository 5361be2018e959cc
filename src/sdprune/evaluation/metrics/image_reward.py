"""ImageReward (Xu et al. 2023), the human-preference score OBS-Diff reports, through the released package.

The model is the `image-reward` package's own `ImageReward` class (BLIP ViT-L/16 + a BERT-base text
encoder with cross-attention, and an MLP head), with the released checkpoint `ImageReward.pt` and
`med_config.json` of the hub repo `THUDM/ImageReward`; each image is scored by the package's own
`ImageReward.score(prompt, image)` (its tokenizer at max_length 35, its 224 px preprocessing, its
mean/std normalisation of the reward).

What we do differently from `ImageReward.load`, and why:

- the checkpoint is a pickle. We read it once, at download time, with ``torch.load(weights_only=True)``
  (tensors only, never arbitrary objects), refuse it if that fails or yields anything but tensors, and
  store it as safetensors; scoring reads only the safetensors file.
- the package's BLIP asks the hub for `bert-base-uncased`'s tokenizer whenever the model is built; we
  fetch those files with the weights and point that one call at them, so scoring runs offline.
- `load_state_dict(strict=False)` would hide a checkpoint that does not fit: we refuse missing weights.

`image-reward` pins timm 0.6.13 and needs transformers 4 (its BLIP imports names transformers 5
removed), which cannot live beside this project's stack (open_clip needs timm >= 1.0.17): the package
is imported only inside `load_image_reward`, which runs in its own environment (envs/image-reward.*).
Fetching and converting need only huggingface_hub and torch, and run anywhere.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Sequence
from unittest import mock

import numpy as np
import torch

log = logging.getLogger(__name__)

REPO_ID = "THUDM/ImageReward"  # the released model, as `ImageReward.load("ImageReward-v1.0")` fetches it
CHECKPOINT = "ImageReward.pt"
MED_CONFIG = "med_config.json"
TOKENIZER_REPO = "google-bert/bert-base-uncased"  # what BLIP's `BertTokenizer.from_pretrained('bert-base-uncased')` reads
TOKENIZER_FILES = ("vocab.txt", "tokenizer_config.json")
WEIGHTS_FILE = "ImageReward.safetensors"
TOKENIZER_DIR = "tokenizer"
# Buffers transformers rebuilds itself (a checkpoint saved by another transformers version may lack them).
REBUILT_BUFFERS = ("position_ids",)


class UnsafeCheckpoint(ValueError):
    """A checkpoint that is not a plain state dict of tensors."""


def tensors_of_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict in a pickled checkpoint, read with ``weights_only=True``; anything else is refused."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises UnpicklingError (or RuntimeError) for a forbidden object
        raise UnsafeCheckpoint(f"{path} does not load as tensors only (weights_only=True): {error}") from error
    if not isinstance(state, dict) or not state:
        raise UnsafeCheckpoint(f"{path} holds {type(state).__name__}, not a state dict of tensors")
    odd = sorted(k for k, v in state.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor))
    if odd:
        raise UnsafeCheckpoint(f"{path}: entries that are not named tensors: {odd[:5]}")
    return {k: v.contiguous() for k, v in state.items()}


def fetch_image_reward(out_dir: str | Path, *, revision: str | None = None) -> Path:
    """Download ImageReward's checkpoint, its med_config and BERT's tokenizer into ``out_dir`` (atomically),
    the checkpoint stored as safetensors."""
    from huggingface_hub import hf_hub_download

    from sdprune.io import atomic_directory, save_tensors

    out_dir = Path(out_dir)
    with atomic_directory(out_dir) as tmp, tempfile.TemporaryDirectory() as scratch:
        pickled = hf_hub_download(REPO_ID, CHECKPOINT, revision=revision, cache_dir=scratch)
        save_tensors(tmp / WEIGHTS_FILE, tensors_of_checkpoint(pickled), {"source": f"{REPO_ID}/{CHECKPOINT}"})
        shutil.copyfile(hf_hub_download(REPO_ID, MED_CONFIG, revision=revision), tmp / MED_CONFIG)
        (tmp / TOKENIZER_DIR).mkdir()
        for name in TOKENIZER_FILES:
            shutil.copyfile(hf_hub_download(TOKENIZER_REPO, name), tmp / TOKENIZER_DIR / name)
    return out_dir


def _local_tokenizer(tokenizer_dir: Path):
    """A BertTokenizer class whose `from_pretrained` reads ``tokenizer_dir`` whatever it is asked for."""
    from transformers import BertTokenizer

    class LocalBertTokenizer(BertTokenizer):
        @classmethod
        def from_pretrained(cls, name, *args, **kwargs):
            log.info("BERT tokenizer %r read from %s", name, tokenizer_dir)
            return BertTokenizer.from_pretrained(str(tokenizer_dir), local_files_only=True)

    return LocalBertTokenizer


def build_image_reward(med_config: str | Path, tokenizer_dir: str | Path, device: torch.device | str = "cpu"):
    """The package's `ImageReward` model as its constructor makes it (random weights), offline."""
    try:
        from ImageReward.ImageReward import ImageReward  # the class, from its module
        from ImageReward.models.BLIP import blip
    except ImportError as error:
        raise ImportError("ImageReward needs the `image-reward` package, in its own environment: "
                          "envs/image-reward.yml (conda) or envs/image-reward.txt (pip); see envs/README.md") from error

    with mock.patch.object(blip, "BertTokenizer", _local_tokenizer(Path(tokenizer_dir))):
        return ImageReward(med_config=str(med_config), device=torch.device(device))


def load_image_reward(weights_dir: str | Path, device: torch.device | str = "cpu"):
    """The package's `ImageReward` model with the weights in ``weights_dir`` (see `fetch_image_reward`), eval mode."""
    from sdprune.io import load_tensors

    weights_dir = Path(weights_dir)
    model = build_image_reward(weights_dir / MED_CONFIG, weights_dir / TOKENIZER_DIR, device)
    result = model.load_state_dict(load_tensors(weights_dir / WEIGHTS_FILE), strict=False)
    missing = [k for k in result.missing_keys if not k.endswith(REBUILT_BUFFERS)]
    if missing:
        raise ValueError(f"{weights_dir / WEIGHTS_FILE} lacks {len(missing)} of the model's weights, e.g. {missing[:3]}")
    if result.unexpected_keys:  # the released checkpoint may carry BLIP's unused heads: harmless, but say so
        log.info("ignored %d checkpoint entries the scorer does not use", len(result.unexpected_keys))
    return model.to(device).eval()


@torch.no_grad()
def image_rewards(model, images: Sequence[str | Path], prompts: Sequence[str]) -> np.ndarray:
    """The package's reward of each image for its prompt, (N,) float64."""
    if len(images) != len(prompts):
        raise ValueError(f"{len(images)} images but {len(prompts)} prompts")
    return np.array([model.score(prompt, str(image)) for image, prompt in zip(images, prompts)], dtype=np.float64)


def main(argv: Sequence[str] | None = None) -> None:
    """Score a folder in this interpreter: what the workflow runs in ImageReward's own environment."""
    import json

    from sdprune.io import write_json

    parser = argparse.ArgumentParser(prog="python -m sdprune.evaluation.metrics.image_reward")
    parser.add_argument("--weights", required=True, help="folder written by fetch_image_reward")
    parser.add_argument("--request", required=True, help="JSON: {images: [...], prompts: [...]}")
    parser.add_argument("--out", required=True, help="JSON file of the per-image rewards")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    request = json.loads(Path(args.request).read_text())
    rewards = image_rewards(load_image_reward(args.weights, args.device), request["images"], request["prompts"])
    write_json(args.out, {"image_reward": rewards.tolist()})


if __name__ == "__main__":
    main()
