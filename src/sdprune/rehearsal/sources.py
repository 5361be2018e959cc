"""The outside world of `config.yaml` and the OBS-Diff preset, in stand-ins with the real identifiers and file formats.

`build_world(root)` writes, under ``root``:

- ``hub/``: Hugging Face repositories, served by `sdprune.rehearsal.hub`:
  - ``stabilityai/stable-diffusion-2``: a Stable Diffusion 2 pipeline (768-v layout: v-prediction
    DDIM scheduler, linear-projection transformer blocks, OpenCLIP-style text encoder, the real CLIP
    BPE tokenizer, a CLIPImageProcessor) at toy size, random seeded weights, saved with
    `save_pretrained` in fp32 safetensors as the hub's main branch holds it;
  - ``stabilityai/stable-diffusion-2-1-base``: the same at toy size in the 512-base layout (epsilon
    prediction, its PNDM scheduler config, its single-file checkpoint name at the root);
  - ``visheratin/laion-coco-nllb``: a parquet dataset with the real split (`train`) and fields
    (`eng_caption`, ...);
  - ``google-research-datasets/conceptual_captions`` (CC3M): the hub's parquet layout, two configs
    (`unlabeled`, the default: `image_url`, `caption`; `labeled`: with labels, MIDs and confidence
    scores) declared in its README as the hub's card declares them;
  - OpenAI CLIP ViT-B/32 as open_clip downloads it (right architecture, stand-in weights); CMMD's
    ViT-L/14@336 is not here, since no rehearsed preset scores CMMD (`write_openai_clip_repo` writes
    it, with ``model_name="ViT-L-14-336"``, for a preset that does);
  - ``THUDM/ImageReward`` (`ImageReward.pt`, `med_config.json`) and ``google-bert/bert-base-uncased``'s
    tokenizer files, as `fetch_image_reward` downloads them: the package's own model class (its fixed
    BLIP ViT-L; a two-layer BERT in med_config, so the file is smaller), built in ImageReward's own
    environment (`image_reward_python`), the only one that has the package;
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

WORLD_VERSION = 3  # a world written by another version is rebuilt (3: SD 2.1-base, CC3M, ImageReward)
SD2_REPO = "stabilityai/stable-diffusion-2"
SD21_BASE_REPO = "stabilityai/stable-diffusion-2-1-base"
# The single-file checkpoint beside each repo's diffusers folders, which a run must not download.
ROOT_CHECKPOINTS = {SD2_REPO: "768-v-ema.safetensors", SD21_BASE_REPO: "v2-1_512-ema-pruned.safetensors"}
ROOT_CHECKPOINT = ROOT_CHECKPOINTS[SD2_REPO]
CALIBRATION_DATASET = "visheratin/laion-coco-nllb"
CC3M_DATASET = "google-research-datasets/conceptual_captions"
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
# SD 2.1-base (512-base): the same network; epsilon prediction and PNDM (PLMS steps), as its scheduler_config.json.
# Its latent is 64 (512 px) to SD2's 96; at toy size both stay at 8, the smallest a 4-level U-Net takes.
SD21_BASE_SCHEDULER = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", set_alpha_to_one=False,
                           skip_prk_steps=True, steps_offset=1, prediction_type="epsilon")
SD21_BASE_TOY = dict(SD2_TOY, scheduler=SD2_SCHEDULER)  # built with DDIM, saved with PNDM (write_pipeline_repo)


def hub_repo_dir(hub_root: Path, kind: str, repo_id: str) -> Path:
    """Where `sdprune.rehearsal.hub` serves a repository from: <root>/<models|datasets>/<org>/<name>."""
    return Path(hub_root) / kind / repo_id


def write_sd2_repo(repo_dir: Path, *, seed: int = 0) -> None:
    """The toy SD2 pipeline as the hub repository's files."""
    write_pipeline_repo(repo_dir, SD2_REPO, SD2_TOY, seed=seed)


def write_sd21_base_repo(repo_dir: Path, *, seed: int = 0) -> None:
    """The toy SD 2.1-base pipeline as the hub repository's files (PNDM, epsilon prediction)."""
    from diffusers import PNDMScheduler

    write_pipeline_repo(repo_dir, SD21_BASE_REPO, SD21_BASE_TOY, seed=seed,
                        scheduler=PNDMScheduler(**SD21_BASE_SCHEDULER))


def write_pipeline_repo(repo_dir: Path, repo_id: str, configs: dict, *, seed: int = 0, scheduler=None) -> None:
    """A toy pipeline of ``configs`` (``scheduler``: in place of the DDIM one it is built with) as ``repo_id``'s files."""
    from transformers import CLIPImageProcessor

    from sdprune.models.build import build_from_configs

    pipe = build_from_configs(configs, seed=seed, feature_extractor=CLIPImageProcessor(crop_size=224, size=224))
    if scheduler is not None:
        pipe.register_modules(scheduler=scheduler)
    with atomic_directory(repo_dir) as tmp:
        # The hub repo also holds fp16 variants and the original single-file checkpoint at its root;
        # a run must not download them (SD2's is 5 GB). Variants first: the fp32 save rewrites configs.
        pipe.to(torch.float16).save_pretrained(tmp, safe_serialization=True, variant="fp16")
        pipe.to(torch.float32).save_pretrained(tmp, safe_serialization=True)
        save_file({"stand_in": torch.zeros(4)}, str(tmp / ROOT_CHECKPOINTS[repo_id]))
        (tmp / "README.md").write_text("---\nlicense: openrail++\n---\n# sdprune rehearsal stand-in for "
                                       f"{repo_id} (toy size, random weights)\n")


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


def cc3m_captions(count: int, seed: int = 0) -> list[str]:
    """Conceptual-Captions-style captions (hypernymised alt-text: "actor", "person"), distinct from the others."""
    rng = np.random.RandomState(seed + 300)
    subjects = ["person", "actor", "a city", "a dog", "the building", "an illustration of a house"]
    verbs = ["standing next to", "looking at", "painted beside", "in front of"]
    return [f"{rng.choice(subjects)} {rng.choice(verbs)} a {rng.choice(list(COLOURS))} {rng.choice(SHAPES)} "
            f"number {i}" for i in range(count)]


# The hub card's YAML: two configs over the parquet files, `unlabeled` the default (what load_dataset reads unnamed).
CC3M_CARD = """---
license: other
task_categories: [image-to-text]
dataset_info:
- config_name: labeled
  features:
  - {name: image_url, dtype: string}
  - {name: caption, dtype: string}
  - {name: labels, sequence: string}
  - {name: MIDs, sequence: string}
  - {name: confidence_scores, sequence: float64}
- config_name: unlabeled
  features:
  - {name: image_url, dtype: string}
  - {name: caption, dtype: string}
configs:
- config_name: labeled
  data_files:
  - {split: train, path: labeled/train-*}
- config_name: unlabeled
  data_files:
  - {split: train, path: unlabeled/train-*}
  - {split: validation, path: unlabeled/validation-*}
  default: true
---
"""
CC3M_SHARDS = {"unlabeled/train": 2, "unlabeled/validation": 1, "labeled/train": 3}  # files per config/split


def write_cc3m_dataset(repo_dir: Path, *, rows_per_shard: int = 64, seed: int = 0) -> None:
    """CC3M as the hub serves it: parquet shards per config and split (train-00000-of-00002.parquet, ...).

    The unlabeled train split's rows, in shard order, are `cc3m_captions`; the other splits hold other captions.
    """
    import pandas as pd

    with atomic_directory(repo_dir) as tmp:
        for offset, (split, shards) in enumerate(CC3M_SHARDS.items()):
            captions = cc3m_captions(rows_per_shard * shards, seed + 1000 * offset)
            for shard in range(shards):
                rows = captions[shard * rows_per_shard:(shard + 1) * rows_per_shard]
                frame = pd.DataFrame({"image_url": [f"https://example.invalid/{split}/{shard}/{i}.jpg" for i in range(len(rows))],
                                      "caption": rows})
                if split.startswith("labeled"):
                    frame = frame.assign(labels=[["shape", "colour"]] * len(rows), MIDs=[["/m/0", "/m/1"]] * len(rows),
                                         confidence_scores=[[0.9, 0.8]] * len(rows))
                path = tmp / f"{split}-{shard:05d}-of-{shards:05d}.parquet"
                path.parent.mkdir(parents=True, exist_ok=True)
                frame.to_parquet(path, index=False)
        (tmp / "README.md").write_text(CC3M_CARD + f"# sdprune rehearsal stand-in for {CC3M_DATASET}\n")


def write_fid_networks(http_dir: Path, *, seed: int = 0) -> None:
    from sdprune.rehearsal.metric_standins import write_cleanfid_inception, write_pytorch_fid_weights

    write_cleanfid_inception(http_dir / FID_FILES["clean"], seed=seed)
    write_pytorch_fid_weights(http_dir / FID_FILES["paper"], seed=seed)


# BLIP's med_config with a two-layer BERT: the package's ViT-L and its 768-wide head stay; the file is 0.5 GB smaller.
IMAGE_REWARD_STANDIN_LAYERS = 2
VENV_TARGET = "make venv-image-reward"


def write_image_reward_repos(hub_root: Path, *, python: str | Path, seed: int = 0) -> None:
    """THUDM/ImageReward and BERT's tokenizer repo, the checkpoint built by ``python`` (ImageReward's environment)."""
    import os
    import subprocess

    import sdprune
    from sdprune.evaluation.metrics.image_reward import REPO_ID, TOKENIZER_REPO
    from sdprune.rehearsal.metric_standins import IMAGE_REWARD_MED_CONFIG, write_bert_tokenizer_repo

    tokenizer = write_bert_tokenizer_repo(hub_repo_dir(hub_root, "models", TOKENIZER_REPO))
    med_config = dict(IMAGE_REWARD_MED_CONFIG, num_hidden_layers=IMAGE_REWARD_STANDIN_LAYERS)
    code = ("import json, sys; from sdprune.rehearsal.metric_standins import write_image_reward_repo; "
            "write_image_reward_repo(sys.argv[1], sys.argv[2], seed=int(sys.argv[3]), med_config=json.loads(sys.argv[4]))")
    src = str(Path(sdprune.__file__).resolve().parents[1])
    command = [str(python), "-c", code, str(hub_repo_dir(hub_root, "models", REPO_ID)), str(tokenizer), str(seed),
               json.dumps(med_config)]
    result = subprocess.run(command, env={**os.environ, "PYTHONPATH": src}, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"writing the ImageReward stand-in with {python} failed (made by `{VENV_TARGET}`?):\n"
                           + result.stderr[-3000:])


def check_image_reward_python(python: str | Path | None) -> Path:
    """ImageReward's interpreter, or a RuntimeError naming the make target that creates it."""
    if python is None or not Path(python).is_file():
        raise RuntimeError(f"the rehearsal scores ImageReward in its own environment, and {python or 'none'} is not "
                           f"an interpreter: run `{VENV_TARGET}` (creates .venv-image-reward) and pass "
                           "--image-reward-python .venv-image-reward/bin/python")
    return Path(python)


def build_world(root: str | Path, *, image_reward_python: str | Path | None, seed: int = 0) -> dict:
    """Write every stand-in under ``root`` (once: a finished world of this version is reused) and return its manifest."""
    import shutil

    root = Path(root)
    manifest_path = root / "world.json"
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("version") == WORLD_VERSION:
            return manifest
        shutil.rmtree(root)  # an older world lacks repos: start again
    python = check_image_reward_python(image_reward_python)
    from sdprune.rehearsal.metric_standins import openai_clip_hub_id, write_openai_clip_repo

    torch.set_num_threads(max(torch.get_num_threads(), 1))
    log.info("building the stand-in world in %s", root)
    hub = root / "hub"
    write_sd2_repo(hub_repo_dir(hub, "models", SD2_REPO), seed=seed)
    write_sd21_base_repo(hub_repo_dir(hub, "models", SD21_BASE_REPO), seed=seed)
    write_laion_dataset(hub_repo_dir(hub, "datasets", CALIBRATION_DATASET), seed=seed)
    write_cc3m_dataset(hub_repo_dir(hub, "datasets", CC3M_DATASET), seed=seed)
    clip_repo = openai_clip_hub_id()
    # Only the safetensors file: open_clip asks for it first, so the .bin beside it on the hub is never read.
    write_openai_clip_repo(hub_repo_dir(hub, "models", clip_repo), seed=seed, include_bin=False)
    write_image_reward_repos(hub, python=python, seed=seed)
    write_fid_networks(root / "http", seed=seed)
    coco_md5 = build_coco_mirror(root / "http", seed=seed)
    manifest = {"version": WORLD_VERSION, "seed": seed, "coco_md5": coco_md5, "fid_files": FID_FILES,
                "clip_repo": clip_repo,
                "repos": [SD2_REPO, SD21_BASE_REPO, CALIBRATION_DATASET, CC3M_DATASET]}
    write_json(manifest_path, manifest)  # written last: its presence means the world is complete
    return manifest


# The captions each stand-in dataset's calibration field starts with, in row order (what the checks compare).
DATASET_CAPTIONS = {CALIBRATION_DATASET: calibration_captions, CC3M_DATASET: cc3m_captions}
