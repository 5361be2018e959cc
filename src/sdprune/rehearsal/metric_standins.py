"""Stand-in metric weights in the real files' formats, for the rehearsal's local mirror.

The rehearsal serves these files over HTTP in place of the real downloads, so the
project's own fetchers (`sdprune.evaluation.metrics.fid.fetch_*`, `sdprune.evaluation.metrics.clip_score.fetch_clip`)
and loaders run unchanged. The architectures are the real ones; the weights are seeded
random, so the scores are NOT comparable to published numbers.

- `write_cleanfid_inception`: clean-fid's `inception-2015-12-05.pt`, a TorchScript archive
  laid out like NVIDIA's port of the TF graph (a `layers` Sequential of conv, conv_1, ...,
  mixed_10, pool2 giving (B, 2048, 1, 1), an `output` Linear 2048 -> 1008, and
  `forward(img, return_features, use_fp16, no_output_bias)`), which is what
  `cleanfid.inception_torchscript.InceptionV3W` calls.
- `write_pytorch_fid_weights`: pytorch-fid's `pt_inception-2015-12-05-6726825d.pth`, a
  pickled state dict of tensors for torchvision's Inception3 with pytorch-fid's FID blocks
  (1008 classes, no aux logits).
- `write_openai_clip_repo`: the open_clip files of the Hugging Face repo behind
  open_clip's `ViT-B-32`/`openai` tag (`timm/vit_base_patch32_clip_224.openai`):
  `open_clip_model.safetensors` (asked for first), `open_clip_pytorch_model.bin` (the
  fallback) and `open_clip_config.json`, all float32 like the published files; with
  ``model_name="ViT-L-14-336"``, CMMD's network (`timm/vit_large_patch14_clip_336.openai`).
- `write_image_reward_repo`, `write_bert_tokenizer_repo`: THUDM/ImageReward's `ImageReward.pt` (a
  pickled state dict, as published) and `med_config.json`, and the BERT tokenizer files its BLIP reads
  (a stand-in vocabulary with bert-base-uncased's size and special ids). Building the checkpoint needs
  the `image-reward` package, i.e. ImageReward's own environment.

Both Inception files hold the same network. A randomly initialised Inception is useless
for FID: with BatchNorm running statistics at 0/1 the activations shrink layer by layer
and every image ends up with nearly the same features (FID ~0 between any two sets). So
the running statistics are set from one forward pass over seeded structured images.
"""

from __future__ import annotations

import io
import json
from collections import OrderedDict
from pathlib import Path
from unittest import mock

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from sdprune.io import atomic_path

CLEANFID_INCEPTION_FILE = "inception-2015-12-05.pt"  # the name InceptionV3W opens in its folder
PYTORCH_FID_WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"  # basename of cleanfid's FID_WEIGHTS_URL
CLIP_SAFETENSORS_FILE = "open_clip_model.safetensors"  # open_clip.constants.HF_SAFE_WEIGHTS_NAME
CLIP_BIN_FILE = "open_clip_pytorch_model.bin"  # open_clip.constants.HF_WEIGHTS_NAME
CLIP_CONFIG_FILE = "open_clip_config.json"  # open_clip.constants.HF_CONFIG_NAME
CALIBRATION_IMAGES = 8


def _calibration_images(seed: int, count: int = CALIBRATION_IMAGES) -> torch.Tensor:
    """Seeded 299 x 299 images in [0, 1]: smooth random fields at several scales, some with pixel noise.

    Mixing scales and noise gives the BatchNorm statistics a spread of image content, so that
    smooth, noisy and in-between images all land in the networks' working range.
    """
    rng = np.random.default_rng(seed)
    images = []
    for i in range(count):
        cells = 2 ** (1 + i % 6)  # 2 .. 64 cells across: from blobs to fine texture
        field = torch.from_numpy(rng.random((1, 3, cells, cells), dtype=np.float32))
        image = F.interpolate(field, size=(299, 299), mode="bicubic", align_corners=False)
        if i % 3 == 2:
            image = image + torch.from_numpy(rng.normal(0, 0.15, (1, 3, 299, 299)).astype(np.float32))
        images.append(image.clamp(0, 1))
    return torch.cat(images)


def _fid_inception_skeleton() -> nn.Module:
    """pytorch-fid's FID Inception (clean-fid's copy of it), built without downloading its weights."""
    import torchvision
    from cleanfid import inception_pytorch

    # fid_inception_v3() ends by loading the downloaded state dict: skip both, keep the fresh init.
    with mock.patch.object(inception_pytorch, "load_state_dict_from_url", lambda *a, **k: None), \
            mock.patch.object(torchvision.models.Inception3, "load_state_dict", lambda self, *a, **k: None):
        return inception_pytorch.fid_inception_v3()


@torch.no_grad()
def build_fid_inception(seed: int = 0) -> nn.Module:
    """The seeded stand-in FID Inception (torchvision Inception3 layout, pytorch-fid's blocks), eval mode."""
    with torch.random.fork_rng(devices=[]):  # seeded without disturbing the caller's random state
        torch.manual_seed(seed)
        net = _fid_inception_skeleton()
    batchnorms = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    for bn in batchnorms:  # running stats := this one batch's statistics (cumulative average of one batch)
        bn.reset_running_stats()
        bn.momentum = None
    net.train()
    net(_calibration_images(seed) * 2 - 1)  # pytorch-fid's input scaling: [0, 1] -> [-1, 1]
    for bn in batchnorms:
        bn.momentum = 0.1  # torch's default, as in a freshly built network
    return net.eval()


class CleanFidInception(nn.Module):
    """The module layout of clean-fid's TorchScript Inception (NVIDIA's port of the TF graph)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.layers = nn.Sequential(OrderedDict([
            ("conv", net.Conv2d_1a_3x3), ("conv_1", net.Conv2d_2a_3x3), ("conv_2", net.Conv2d_2b_3x3),
            ("pool0", nn.MaxPool2d(kernel_size=3, stride=2)),
            ("conv_3", net.Conv2d_3b_1x1), ("conv_4", net.Conv2d_4a_3x3),
            ("pool1", nn.MaxPool2d(kernel_size=3, stride=2)),
            ("mixed", net.Mixed_5b), ("mixed_1", net.Mixed_5c), ("mixed_2", net.Mixed_5d),
            ("mixed_3", net.Mixed_6a), ("mixed_4", net.Mixed_6b), ("mixed_5", net.Mixed_6c),
            ("mixed_6", net.Mixed_6d), ("mixed_7", net.Mixed_6e),
            ("mixed_8", net.Mixed_7a), ("mixed_9", net.Mixed_7b), ("mixed_10", net.Mixed_7c),
            ("pool2", nn.AvgPool2d(kernel_size=8, stride=8)),
        ]))
        self.output = net.fc  # 2048 -> 1008 logits, as in the TF graph

    def forward(self, img: torch.Tensor, return_features: bool = False, use_fp16: bool = False,
                no_output_bias: bool = False) -> torch.Tensor:
        """0-255 images -> pool3 features (B, 2048), or class probabilities. ``use_fp16`` is accepted
        for the real archive's signature; the stand-in always runs in float32."""
        x = img.to(torch.float32)
        if x.shape[2] != 299 or x.shape[3] != 299:
            x = _resize_299(x)
        features = self.layers((x - 128.0) / 128.0).reshape(-1, 2048)
        if return_features:
            return features
        bias = None if no_output_bias else self.output.bias
        return F.softmax(F.linear(features, self.output.weight, bias), dim=1)


def _resize_299(x: torch.Tensor) -> torch.Tensor:
    """Bilinear resize to 299 x 299 with border padding, the half-pixel offset matching TF's resize
    (the real archive's `resize_inside` path, i.e. clean-fid's legacy_tensorflow mode)."""
    batch, channels, height, width = x.shape
    theta = torch.eye(2, 3, dtype=x.dtype, device=x.device)
    theta[0, 2] = 1.0 / width - 1.0 / 299
    theta[1, 2] = 1.0 / height - 1.0 / 299
    grid = F.affine_grid(theta.unsqueeze(0).repeat(batch, 1, 1), [batch, channels, 299, 299], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def write_cleanfid_inception(path: str | Path, *, seed: int = 0) -> Path:
    """Write the stand-in as clean-fid's TorchScript `inception-2015-12-05.pt` at ``path``.

    Seeded: the same seed gives the same tensors. Not the same bytes: TorchScript stores a random
    serialization id and lists class constants in Python's (per-process) string-hash order.
    """
    scripted = torch.jit.script(CleanFidInception(build_fid_inception(seed)).eval())
    buffer = io.BytesIO()  # via a buffer: a path would put the (random) temporary file name inside the zip
    torch.jit.save(scripted, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())
    return Path(path)


def write_pytorch_fid_weights(path: str | Path, *, seed: int = 0) -> Path:
    """Write the stand-in as pytorch-fid's `pt_inception-2015-12-05-6726825d.pth` (a state dict of tensors)."""
    state = OrderedDict((k, v.detach().clone()) for k, v in build_fid_inception(seed).state_dict().items())
    with atomic_path(path) as tmp:
        tmp.write_bytes(_torch_save_bytes(state))
    return Path(path)


def _torch_save_bytes(state: OrderedDict) -> bytes:
    """torch.save's zip format, written to a buffer so that its inner folder is always "archive"
    (saved to a path it is named after the file, here a random temporary name): same tensors, same bytes."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def openai_clip_hub_id(model_name: str = "ViT-B-32", pretrained: str = "openai") -> str:
    """The Hugging Face repo open_clip downloads this tag from (``timm/vit_base_patch32_clip_224.openai``)."""
    import open_clip

    return open_clip.get_pretrained_cfg(model_name, pretrained)["hf_hub"].rstrip("/")


def openai_clip_config(model_name: str = "ViT-B-32", pretrained: str = "openai") -> dict:
    """`open_clip_config.json` as the hub repo has it: the architecture (with quick_gelu) and preprocessing."""
    import open_clip

    cfg = open_clip.get_pretrained_cfg(model_name, pretrained)
    model_cfg = open_clip.get_model_config(model_name)
    if cfg.get("quick_gelu"):
        model_cfg = {"embed_dim": model_cfg["embed_dim"], "quick_gelu": True,
                     **{k: v for k, v in model_cfg.items() if k != "embed_dim"}}
    preprocess = {k: cfg[k] for k in ("mean", "std", "interpolation", "resize_mode")}
    # through JSON and back: the file's content exactly (open_clip's tuples become lists)
    return json.loads(json.dumps({"model_cfg": model_cfg, "preprocess_cfg": preprocess}))


def write_openai_clip_repo(repo_dir: str | Path, *, seed: int = 0, include_bin: bool = True,
                           model_name: str = "ViT-B-32", pretrained: str = "openai") -> Path:
    """Write the open_clip files of an OpenAI CLIP hub repo (default ViT-B-32; CMMD's is ViT-L-14-336) into
    ``repo_dir``, seeded random weights.

    ``repo_dir`` is the repository's own folder (for a hub served from disk, e.g.
    ``<hub>/models/`` + `openai_clip_hub_id()`). float32 tensors keyed as open_clip's
    CLIP.state_dict(), like the published files (605 MB each: fp32; the .bin's pickle holds
    FloatStorage). ``include_bin=False`` skips the fallback .bin, which open_clip only asks for
    when the safetensors file is missing. Each file is written atomically; other files in
    ``repo_dir`` are left alone (so a wrong folder never loses anything).
    """
    import open_clip
    from safetensors.torch import save_file

    config = openai_clip_config(model_name, pretrained)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = open_clip.model.CLIP(**config["model_cfg"])
    state = OrderedDict((k, v.detach().float().contiguous()) for k, v in model.state_dict().items())
    repo_dir = Path(repo_dir)
    with atomic_path(repo_dir / CLIP_SAFETENSORS_FILE) as tmp:
        save_file(state, str(tmp))  # no metadata, as open_clip's save_for_hf writes it
    if include_bin:
        with atomic_path(repo_dir / CLIP_BIN_FILE) as tmp:
            tmp.write_bytes(_torch_save_bytes(state))
    with atomic_path(repo_dir / CLIP_CONFIG_FILE) as tmp:
        tmp.write_text(json.dumps(config, indent=2))
    return repo_dir


# BLIP's `configs/med_config.json`, which THUDM/ImageReward publishes beside its checkpoint.
IMAGE_REWARD_MED_CONFIG = {
    "architectures": ["BertModel"], "attention_probs_dropout_prob": 0.1, "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1, "hidden_size": 768, "initializer_range": 0.02, "intermediate_size": 3072,
    "layer_norm_eps": 1e-12, "max_position_embeddings": 512, "model_type": "bert", "num_attention_heads": 12,
    "num_hidden_layers": 12, "pad_token_id": 0, "type_vocab_size": 2, "vocab_size": 30524, "encoder_width": 768,
    "add_cross_attention": True,
}
BERT_VOCAB_SIZE = 30522  # bert-base-uncased; BLIP adds [DEC] and [ENC]: med_config's 30524
BERT_SPECIAL_IDS = {"[PAD]": 0, "[UNK]": 100, "[CLS]": 101, "[SEP]": 102, "[MASK]": 103}  # as in the real vocab


def bert_standin_vocab() -> list[str]:
    """A WordPiece vocabulary with bert-base-uncased's size and special-token ids: lower-case characters,
    digits and punctuation, each also as a ``##`` continuation, then unused fillers. Any caption
    tokenises (character by character), so the real tokenizer code runs on it."""
    import string

    pieces = list(string.ascii_lowercase + string.digits + string.punctuation)
    words = pieces + [f"##{p}" for p in pieces]
    vocab = [f"[unused{i}]" for i in range(BERT_VOCAB_SIZE)]
    for token, index in BERT_SPECIAL_IDS.items():
        vocab[index] = token
    vocab[1000:1000 + len(words)] = words  # the real vocabulary's characters start near 1000 too
    return vocab


def write_bert_tokenizer_repo(repo_dir: str | Path) -> Path:
    """The tokenizer files of `google-bert/bert-base-uncased` (vocab.txt, tokenizer_config.json), stand-in vocab."""
    repo_dir = Path(repo_dir)
    with atomic_path(repo_dir / "vocab.txt") as tmp:
        tmp.write_text("\n".join(bert_standin_vocab()) + "\n")
    with atomic_path(repo_dir / "tokenizer_config.json") as tmp:
        tmp.write_text(json.dumps({"do_lower_case": True, "model_max_length": 512}))
    return repo_dir


def write_image_reward_repo(repo_dir: str | Path, tokenizer_dir: str | Path, *, seed: int = 0,
                            med_config: dict | None = None) -> Path:
    """Write THUDM/ImageReward's files into ``repo_dir``: `ImageReward.pt` (a pickled state dict of fp32 tensors,
    seeded random weights of the package's own `ImageReward` class) and `med_config.json`.

    Needs the `image-reward` package (its own environment): the state dict is the class's, built by the
    package, never a hand-made copy. ``tokenizer_dir``: BERT tokenizer files the constructor reads
    (`write_bert_tokenizer_repo`). ``med_config``: BLIP's (default) or a smaller one for tests.
    """
    from sdprune.evaluation.metrics.image_reward import CHECKPOINT, MED_CONFIG, build_image_reward

    repo_dir = Path(repo_dir)
    with atomic_path(repo_dir / MED_CONFIG) as tmp:
        tmp.write_text(json.dumps(med_config or IMAGE_REWARD_MED_CONFIG, indent=2))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_image_reward(repo_dir / MED_CONFIG, tokenizer_dir)
        # The package initialises its five-layer linear head with std 1/769: untrained, the head scales its
        # input by ~1e-9 and every image gets the same reward. torch's default Linear init keeps rewards apart.
        for layer in model.mlp.layers:
            if isinstance(layer, nn.Linear):
                layer.reset_parameters()
    state = OrderedDict((k, v.detach().float().contiguous()) for k, v in model.state_dict().items())
    with atomic_path(repo_dir / CHECKPOINT) as tmp:
        tmp.write_bytes(_torch_save_bytes(state))
    return repo_dir
