"""score: FID against cached reference features, the paper's CLIP score, paired signals, (for scene
captions) the toy world's prompt accuracy, and where switched on CMMD and ImageReward."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from sdprune.evaluation.generation import image_name
from sdprune.evaluation.metrics.clip_score import ClipScorer
from sdprune.evaluation.metrics.cmmd import CmmdEmbedder, mmd
from sdprune.evaluation.metrics.fid import folder_features, frechet_distance, load_feature_extractor
from sdprune.evaluation.metrics.paired import paired_metrics, summarise
from sdprune.evaluation.metrics.prompt_accuracy import judge_images
from sdprune.io import atomic_path, load_tensors, read_json, write_json
from sdprune.models.loading import resolve_device
from sdprune.workflow.provenance import environment_record


def score(*, images_dir: str | Path, prompts: Sequence[str], fid: Mapping[str, tuple[str | Path, str | Path]],
          clip_dir: str | Path, out_path: str | Path, per_image_path: str | Path | None = None,
          dense_images_dir: str | Path | None = None, device: str = "auto", batch_size: int = 32,
          judge_prompts: bool = False, cmmd: tuple[str | Path, str | Path] | None = None,
          image_reward_path: str | Path | None = None) -> dict:
    """FID against cached reference features, the paper's CLIP score, and paired signals.

    ``fid`` maps each FID protocol to (feature network folder, reference features file), the
    primary protocol first: its value is ``fid``, every protocol's is in ``fid_by_protocol``.
    With ``dense_images_dir`` (the dense model's images of the same prompts and seeds),
    each image is also compared with its dense twin: CLIP image similarity, SSIM, PSNR.
    With ``judge_prompts`` (the prompts are scene-world captions), each image is judged against its
    caption: the six accuracies (``prompt_accuracy``, ``count_accuracy``, ...) go to the top level of
    the record and whether each image is entirely right to the per-image ``correct`` column.
    ``cmmd`` (embedding network folder, reference embeddings file) adds ``cmmd``; ``image_reward_path``
    (the run's score_image_reward output) adds ``image_reward`` and its per-image column.
    """
    started = time.perf_counter()
    device = resolve_device(device)
    fids = {protocol: _fid(images_dir, weights, reference, protocol, device, batch_size)
            for protocol, (weights, reference) in fid.items()}
    scorer = ClipScorer(clip_dir, device)
    files = [Path(images_dir) / image_name(i) for i in range(len(prompts))]
    cosines = scorer.cosines(files, prompts, batch_size=batch_size)
    per_image = {"file": [f.name for f in files], "clip_score": cosines.tolist()}
    paired = {}
    if dense_images_dir is not None:
        per_image.update(paired_metrics(files, [Path(dense_images_dir) / f.name for f in files], scorer,
                                        batch_size=batch_size))
        paired = summarise({k: per_image[k] for k in ("clip_image_similarity", "ssim", "psnr")})
    accuracies = {}
    if judge_prompts:
        accuracies, per_image["correct"] = judge_images(files, prompts)
    optional = _optional_metrics(files, per_image, cmmd, image_reward_path, device, batch_size)
    primary = next(iter(fids))
    record = {
        "fid": fids[primary]["fid"],
        "fid_protocol": primary,
        "fid_by_protocol": {protocol: value["fid"] for protocol, value in fids.items()},
        "clip_score": float(cosines.mean()),
        "clip_score_std": float(cosines.std()),
        "paired_with_dense": paired,
        "num_images": len(files),
        "num_reference_images": fids[primary]["num_reference_images"],
        **accuracies,
        **optional,
        "seconds": time.perf_counter() - started,
        "environment": environment_record(),
    }
    if per_image_path is not None:
        with atomic_path(per_image_path) as tmp:
            pd.DataFrame(per_image).to_csv(tmp, index=False)
    write_json(out_path, record)
    return record


def _fid(images_dir, weights_dir, reference_path, protocol: str, device, batch_size: int) -> dict:
    """One protocol's FID of a folder against its cached reference features."""
    feats = folder_features(images_dir, load_feature_extractor(weights_dir, device), device=device,
                            batch_size=batch_size, protocol=protocol)
    reference = load_tensors(reference_path)["features"].numpy()
    return {"fid": frechet_distance(feats, reference), "num_reference_images": len(reference)}


def _optional_metrics(files: Sequence[Path], per_image: dict, cmmd, image_reward_path, device,
                      batch_size: int) -> dict:
    """CMMD and ImageReward where asked for (their keys are absent otherwise, so records stay as they were);
    ImageReward's per-image values join ``per_image``."""
    found = {}
    if cmmd is not None:
        weights, reference = cmmd
        embeddings = CmmdEmbedder(weights, device).embed(files, batch_size=batch_size)
        found["cmmd"] = mmd(embeddings, load_tensors(reference)["embeddings"].numpy())
    if image_reward_path is not None:
        rewards = read_json(image_reward_path)
        if rewards["num_images"] != len(files):
            raise ValueError(f"{image_reward_path} scored {rewards['num_images']} images, not {len(files)}")
        found.update(image_reward=rewards["image_reward"], image_reward_std=rewards["image_reward_std"])
        per_image["image_reward"] = rewards["per_image"]
    return found
