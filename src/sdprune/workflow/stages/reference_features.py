"""reference_features: FID features of the reference images, once per protocol."""

from __future__ import annotations

from pathlib import Path

import torch

from sdprune.evaluation.metrics.fid import folder_features, load_feature_extractor
from sdprune.io import save_tensors
from sdprune.models.loading import resolve_device
from sdprune.io import canonical_json
from sdprune.workflow.provenance import environment_record


def reference_features(*, images_dir: str | Path, metrics_dir: str | Path, out_path: str | Path,
                       protocol: str = "clean", device: str = "auto", batch_size: int = 32) -> dict:
    """FID features of the reference image set, computed once per protocol and cached."""
    device = resolve_device(device)
    feats = folder_features(images_dir, load_feature_extractor(metrics_dir, device), device=device,
                            batch_size=batch_size, protocol=protocol, reference=True)
    record = {"images": str(images_dir), "num_images": len(feats), "feature_dim": feats.shape[1],
              "protocol": protocol, "environment": environment_record()}
    save_tensors(out_path, {"features": torch.from_numpy(feats)}, {"record": canonical_json(record)})
    return record
