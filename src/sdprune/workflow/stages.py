"""One function per workflow stage, shared by the Snakemake scripts and the command line.

Each takes explicit paths and settings, writes its outputs atomically, and
returns the record it wrote. Nothing here reads a config file or `snakemake`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Mapping, Sequence

import torch

from sdprune.io import load_tensors, read_json, save_tensors, write_json
from sdprune.workflow.provenance import environment_record

log = logging.getLogger(__name__)


def calibrate(*, model_dir: str | Path, component: str, prompts: Sequence[str], calibration, scope: str,
              out_path: str | Path, device: str = "auto", dtype: str = "float32") -> dict:
    """Input-norm statistics of every target layer of the *dense* component, in one pass."""
    from sdprune.pruning.calibration import collect_statistics, save_statistics
    from sdprune.models.components import find_layers, get_component
    from sdprune.models.loading import load_pipeline
    from sdprune.pruning.prune import make_feed

    started = time.perf_counter()
    pipe = load_pipeline(model_dir, device=device, dtype=dtype)
    layers = find_layers(get_component(pipe, component), scope)
    feed = make_feed(pipe, component, _with_prompts(calibration, prompts))
    with torch.no_grad():
        stats = collect_statistics(layers, feed, kind="norms")
    record = {"component": component, "scope": scope, "num_prompts": len(prompts), "layers": len(stats),
              "calibration": asdict(_with_prompts(calibration, ())), "seconds": time.perf_counter() - started,
              "environment": environment_record()}
    save_tensors(out_path, save_statistics(stats), {"record": _json(record)})
    return record


def prune(*, model_dir: str | Path, component: str, settings, calibration=None, prompts: Sequence[str] = (),
          statistics_path: str | Path | None = None, out_dir: str | Path, device: str = "auto",
          dtype: str = "float32") -> dict:
    """Prune one component; write ``artifact.safetensors`` and ``report.json`` into ``out_dir``."""
    from sdprune.pruning.accounting import pipeline_accounting
    from sdprune.pruning.artifact import save_artifact
    from sdprune.pruning.calibration import load_statistics
    from sdprune.pruning.methods import parse_method
    from sdprune.models.loading import component_fingerprint, load_pipeline
    from sdprune.pruning.prune import CalibrationSettings, prune_component

    out_dir = Path(out_dir)
    pipe = load_pipeline(model_dir, device=device, dtype=dtype)
    needs = parse_method(settings.method).statistics
    dense_stats = load_statistics(load_tensors(statistics_path)) if statistics_path and needs else None
    calibration = _with_prompts(calibration or CalibrationSettings(), prompts) if needs else None
    result = prune_component(pipe, component, settings, calibration=calibration, dense_statistics=dense_stats)
    result.artifact.base_fingerprint = component_fingerprint(model_dir, component)
    report = {
        **result.report,
        "base_model": str(Path(model_dir).resolve()),
        "full_model": pipeline_accounting(pipe, {component: settings.sparsity}, {component: settings.scope}),
        "calibration": asdict(_with_prompts(calibration, ())) if calibration else None,
        "num_calibration_prompts": len(prompts) if calibration else 0,
        "environment": environment_record(),
    }
    save_artifact(out_dir / "artifact.safetensors", result.artifact)
    write_json(out_dir / "report.json", report)  # written last: its presence means the artifact is complete
    return report


def export(*, artifact_dirs: Sequence[str | Path], out_dir: str | Path, model_dir: str | Path | None = None) -> Path:
    """Write a standalone pruned pipeline that `StableDiffusionPipeline.from_pretrained` loads."""
    from sdprune.io import atomic_directory
    from sdprune.pruning.artifact import load_artifact, load_pruned_pipeline

    artifacts: dict[str, Path] = {}
    for folder in artifact_dirs:
        report = read_json(Path(folder) / "report.json")
        model_dir = model_dir or report["base_model"]
        path = Path(folder) / "artifact.safetensors"
        artifacts[load_artifact(path).component] = path
    if model_dir is None:
        raise ValueError("no base model: pass model_dir or artifacts with a report.json")
    pipe = load_pruned_pipeline(model_dir, artifacts, device="cpu", dtype=_saved_dtype(model_dir))
    with atomic_directory(out_dir) as tmp:
        pipe.save_pretrained(tmp, safe_serialization=True)
    return Path(out_dir)


def generate(*, model_dir: str | Path, artifacts: Mapping[str, str | Path], requested: Mapping[str, float],
             scopes: Mapping[str, str], prompts: Sequence[str], settings, images_dir: str | Path, record_path: str | Path,
             showcase_prompts: Sequence[str] = (), showcase_dir: str | Path | None = None,
             device: str = "auto", dtype: str = "float32") -> dict:
    """Generate the run's images (and showcase images) and write its record: measured sparsity, settings, timing.

    Showcase image i has the seed of evaluation image i, whatever the run: the
    image grids compare the same prompt and noise across sparsities.
    """
    from sdprune.pruning.accounting import pipeline_accounting
    from sdprune.evaluation.generation import generate_images
    from sdprune.pruning.artifact import load_pruned_pipeline

    started = time.perf_counter()
    pipe = load_pruned_pipeline(model_dir, artifacts, device=device, dtype=dtype)
    accounting = pipeline_accounting(pipe, requested, scopes)
    manifest = generate_images(pipe, prompts, images_dir, settings)
    if showcase_dir is not None:
        generate_images(pipe, list(showcase_prompts), showcase_dir, settings)
    record = {
        "accounting": accounting,
        "generation": manifest["settings"],
        "scheduler_class": manifest["scheduler_class"],
        "num_images": manifest["num_images"],
        "seconds": time.perf_counter() - started,
        "environment": environment_record(),
    }
    write_json(record_path, record)
    return record


def reference_features(*, images_dir: str | Path, metrics_dir: str | Path, out_path: str | Path,
                       protocol: str = "clean", device: str = "auto", batch_size: int = 32) -> dict:
    """FID features of the reference image set, computed once per protocol and cached."""
    from sdprune.evaluation.metrics.fid import folder_features, load_feature_extractor
    from sdprune.models.loading import resolve_device

    device = resolve_device(device)
    feats = folder_features(images_dir, load_feature_extractor(metrics_dir, device), device=device,
                            batch_size=batch_size, protocol=protocol, reference=True)
    record = {"images": str(images_dir), "num_images": len(feats), "feature_dim": feats.shape[1],
              "protocol": protocol, "environment": environment_record()}
    save_tensors(out_path, {"features": torch.from_numpy(feats)}, {"record": _json(record)})
    return record


def score(*, images_dir: str | Path, prompts: Sequence[str], fid: Mapping[str, tuple[str | Path, str | Path]],
          clip_dir: str | Path, out_path: str | Path, per_image_path: str | Path | None = None,
          dense_images_dir: str | Path | None = None, device: str = "auto", batch_size: int = 32) -> dict:
    """FID against cached reference features, the paper's CLIP score, and paired signals.

    ``fid`` maps each FID protocol to (feature network folder, reference features file), the
    primary protocol first: its value is ``fid``, every protocol's is in ``fid_by_protocol``.
    With ``dense_images_dir`` (the dense model's images of the same prompts and seeds),
    each image is also compared with its dense twin: CLIP image similarity, SSIM, PSNR.
    """
    import pandas as pd

    from sdprune.evaluation.generation import image_name
    from sdprune.io import atomic_path
    from sdprune.evaluation.metrics.clip_score import ClipScorer
    from sdprune.evaluation.metrics.paired import paired_metrics, summarise
    from sdprune.models.loading import resolve_device

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
    from sdprune.evaluation.metrics.fid import folder_features, frechet_distance, load_feature_extractor

    feats = folder_features(images_dir, load_feature_extractor(weights_dir, device), device=device,
                            batch_size=batch_size, protocol=protocol)
    reference = load_tensors(reference_path)["features"].numpy()
    return {"fid": frechet_distance(feats, reference), "num_reference_images": len(reference)}


def _with_prompts(calibration, prompts: Sequence[str]):
    from dataclasses import replace

    return replace(calibration, prompts=tuple(prompts))


def _saved_dtype(model_dir: str | Path) -> str:
    """The dtype the U-Net weights were saved in, so an export keeps the base model's precision."""
    from safetensors import safe_open

    names = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}
    weights = next((Path(model_dir) / "unet").glob("*.safetensors"))
    with safe_open(str(weights), framework="pt") as handle:
        return names[handle.get_slice(next(iter(handle.keys()))).get_dtype()]


def _json(obj) -> str:
    import json

    return json.dumps(obj, sort_keys=True, default=str)
