"""reference_embeddings: CMMD's CLIP embeddings of the reference images, computed once and cached."""

from __future__ import annotations

from pathlib import Path

import torch

from sdprune.evaluation.metrics.cmmd import CmmdEmbedder, folder_embeddings
from sdprune.io import canonical_json, save_tensors
from sdprune.models.loading import resolve_device
from sdprune.workflow.provenance import environment_record


def reference_embeddings(*, images_dir: str | Path, weights_dir: str | Path, out_path: str | Path,
                         device: str = "auto", batch_size: int = 32) -> dict:
    """L2-normalised embeddings (N, D) of every reference image, saved as `embeddings` in ``out_path``."""
    embeddings = folder_embeddings(images_dir, CmmdEmbedder(weights_dir, resolve_device(device)), batch_size=batch_size)
    record = {"images": str(images_dir), "num_images": len(embeddings), "embedding_dim": embeddings.shape[1],
              "environment": environment_record()}
    save_tensors(out_path, {"embeddings": torch.from_numpy(embeddings)}, {"record": canonical_json(record)})
    return record
