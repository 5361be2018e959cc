"""Getting pipelines onto disk and back: hub download, built-in models, local loading.

Every source ends as a `save_pretrained` folder (safetensors) under `resources/`,
and everything downstream loads that folder offline (`local_files_only=True`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import torch

from sdprune.io import atomic_directory, write_json
from sdprune.models.architectures import BUILT_IN, meta_parameter_counts

log = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def torch_dtype(name: str) -> torch.dtype:
    try:
        return DTYPES[name]
    except KeyError:
        raise ValueError(f"unknown dtype {name!r}; expected one of {sorted(DTYPES)}") from None


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def resolve_dtype(name: str, device: str | torch.device = "auto") -> str:
    """A dtype name, with 'auto' made concrete for ``device``: float16 on CUDA (half the memory, tensor
    cores), float32 elsewhere (a CPU runs float16 slowly, some operations not at all)."""
    if name != "auto":
        torch_dtype(name)  # unknown names fail here, not at load time
        return name
    device = resolve_device(device) if isinstance(device, str) else device
    return "float16" if device.type == "cuda" else "float32"


# generation.attention -> the diffusers attention processor the U-Net and the VAE use. Both compute
# softmax(QK^T / sqrt(d)) V; sdpa hands it to torch's fused kernels (flash / memory-efficient on a GPU),
# default materialises the attention matrix (slower, more memory; kept to compare against).
ATTENTION_PROCESSORS = {"sdpa": "AttnProcessor2_0", "default": "AttnProcessor"}


def set_attention(pipe, kind: str) -> dict[str, str]:
    """Give the U-Net's and the VAE's attention layers the ``kind`` processor; return what each
    component now uses (the text encoder's is transformers' own `attn_implementation`)."""
    import diffusers.models.attention_processor as processors

    try:
        processor_class = getattr(processors, ATTENTION_PROCESSORS[kind])
    except KeyError:
        raise ValueError(f"unknown attention {kind!r}; expected one of {sorted(ATTENTION_PROCESSORS)}") from None
    for model in (pipe.unet, pipe.vae):
        model.set_attn_processor(processor_class())
    return attention_in_use(pipe)


def attention_in_use(pipe) -> dict[str, str]:
    """Each component's attention implementation, as found on the modules (not as assumed)."""
    used = {name: sorted({type(p).__name__ for p in getattr(pipe, name).attn_processors.values()})
            for name in ("unet", "vae")}
    used = {name: "+".join(classes) for name, classes in used.items()}
    used["text_encoder"] = str(getattr(pipe.text_encoder.config, "_attn_implementation", None))
    return used


def fetch_pipeline(source: str, out_dir: str | Path, *, revision: str | None = None, dtype: str = "float32",
                   seed: int = 0, training: dict | None = None) -> Path:
    """Save the pipeline named by ``source`` to ``out_dir``: a built-in name or a Hugging Face id.

    ``training``: changes to the `toy` model's recipe (`ToyTraining` fields); other sources take none.

    Written to a temporary folder and renamed, so a failed download leaves nothing behind.
    """
    from diffusers import StableDiffusionPipeline

    from sdprune.models.build import build_pipeline

    out_dir = Path(out_dir)
    trained = {}  # the recipe of a model trained here, recorded with it
    with atomic_directory(out_dir) as tmp:
        if source == "toy":  # the one built-in model that draws: trained here, on the scene world
            from sdprune.models.toy.training import ToyTraining, train_toy_pipeline

            recipe = ToyTraining(**(training or {}))
            pipe = train_toy_pipeline(seed=seed, recipe=recipe).to(dtype=torch_dtype(dtype))
            trained = {"training": recipe.as_dict()}
        elif source in BUILT_IN:
            pipe = build_pipeline(source, seed=seed, dtype=torch_dtype(dtype))
        elif Path(source).expanduser().is_dir():  # a pipeline already on disk: same path as the hub
            log.info("copying the local pipeline %s", source)
            pipe = StableDiffusionPipeline.from_pretrained(
                Path(source).expanduser(), dtype=torch_dtype(dtype), local_files_only=True,
                safety_checker=None, requires_safety_checker=False,
            )
        else:
            log.info("downloading %s (revision %s) from the Hugging Face hub", source, revision or "main")
            pipe = StableDiffusionPipeline.from_pretrained(
                source, revision=revision, dtype=torch_dtype(dtype), use_safetensors=True,
                safety_checker=None, requires_safety_checker=False,
            )
        pipe.save_pretrained(tmp, safe_serialization=True)
        write_json(tmp / "sdprune_source.json", {"source": source, "revision": revision, "dtype": dtype,
                                                  "seed": seed if source in BUILT_IN else None, **trained})
    log.info("saved pipeline to %s", out_dir)
    return out_dir


def load_pipeline(model_dir: str | Path, *, device: str | torch.device = "cpu", dtype: str = "float32"):
    """Load a saved pipeline offline (pruned: `sdprune.pruning.artifact.load_pruned_pipeline`)."""
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(
        str(model_dir), dtype=torch_dtype(dtype), local_files_only=True,
        safety_checker=None, requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(resolve_device(device) if isinstance(device, str) else device)


def load_unet(model_dir: str | Path, *, device: str | torch.device = "cpu", dtype=torch.float32):
    """The saved dense U-Net alone (a pruned run's baseline for size and speed), offline."""
    from diffusers import UNet2DConditionModel

    unet = UNet2DConditionModel.from_pretrained(str(model_dir), subfolder="unet", dtype=dtype,
                                                local_files_only=True)
    return unet.to(device).eval()


def component_fingerprint(model_dir: str | Path, component: str) -> str:
    """A cheap identity of a saved component: its config plus the names and sizes of its weight files."""
    folder = Path(model_dir) / component
    digest = hashlib.sha256((folder / "config.json").read_bytes())
    for weights in sorted(folder.glob("*.safetensors")):
        digest.update(f"{weights.name}:{weights.stat().st_size}".encode())
    return digest.hexdigest()


def parameter_counts(model_dir: str | Path) -> dict[str, int]:
    """Total parameters of each prunable component, counted on the meta device (no weights read)."""
    from transformers import CLIPTextConfig

    model_dir = Path(model_dir)
    text_config = CLIPTextConfig.from_pretrained(model_dir / "text_encoder", local_files_only=True)
    return meta_parameter_counts(text_config, json.loads((model_dir / "unet" / "config.json").read_text()))
