"""CLIP score as the paper computes it: raw cosine of L2-normalised image and text embeddings.

(torchmetrics reports max(100 * cos, 0) instead; the paper's 0.314 is the raw mean.)
The model is an open_clip `local-dir` folder: `open_clip_config.json` + safetensors weights.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from sdprune.io import read_image

log = logging.getLogger(__name__)


def fetch_clip(out_dir: str | Path, *, model_name: str = "ViT-B-32", pretrained: str = "openai") -> Path:
    """Download an open_clip model (default: OpenAI ViT-B/32, the paper's) into a local-dir folder."""
    import open_clip
    from open_clip.pretrained import download_pretrained_from_hf

    from sdprune.io import atomic_directory, save_tensors

    cfg = open_clip.get_pretrained_cfg(model_name, pretrained)
    if not cfg:
        raise ValueError(f"open_clip knows no pretrained tag {pretrained!r} for {model_name}")
    model_cfg = open_clip.get_model_config(model_name)
    if cfg.get("quick_gelu"):
        model_cfg["quick_gelu"] = True
    weights = Path(download_pretrained_from_hf(cfg["hf_hub"].rstrip("/")))
    out_dir = Path(out_dir)
    with atomic_directory(out_dir) as tmp:
        if weights.suffix == ".safetensors":
            (tmp / "open_clip_model.safetensors").write_bytes(weights.read_bytes())
        else:  # a state dict: read without unpickling arbitrary objects, store as safetensors
            save_tensors(tmp / "open_clip_model.safetensors", torch.load(weights, map_location="cpu", weights_only=True))
        preprocess = {k: cfg[k] for k in ("mean", "std", "interpolation", "resize_mode") if k in cfg}
        (tmp / "open_clip_config.json").write_text(json.dumps({"model_cfg": model_cfg, "preprocess_cfg": preprocess}, indent=2))
    return out_dir


class ClipScorer:
    def __init__(self, model_dir: str | Path, device: torch.device | str = "cpu"):
        import open_clip

        name = f"local-dir:{Path(model_dir).resolve()}"
        self.device = torch.device(device)
        self.model, _, self.preprocess = open_clip.create_model_and_transforms(name, device=self.device)
        self.model.eval()
        self.tokenizer = open_clip.get_tokenizer(name)

    @torch.no_grad()
    def image_embeddings(self, images: Sequence[str | Path]) -> torch.Tensor:
        """L2-normalised image embeddings, (N, D)."""
        pixels = torch.stack([self.preprocess(read_image(p).convert("RGB")) for p in images])
        return self.model.encode_image(pixels.to(self.device), normalize=True)

    @torch.no_grad()
    def cosines(self, images: Sequence[str | Path], prompts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        """Cosine similarity of each image with its prompt, (N,)."""
        if len(images) != len(prompts):
            raise ValueError(f"{len(images)} images but {len(prompts)} prompts")
        out = []
        for start in range(0, len(images), batch_size):
            tokens = self.tokenizer(list(prompts[start:start + batch_size]))
            image_emb = self.image_embeddings(images[start:start + batch_size])
            text_emb = self.model.encode_text(tokens.to(self.device), normalize=True)
            out.append((image_emb * text_emb).sum(dim=-1).float().cpu())
        return torch.cat(out).numpy().astype(np.float64)
