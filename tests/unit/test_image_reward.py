"""ImageReward: the checkpoint converted to safetensors without unpickling objects, the download laid out
for offline scoring, the merge into scores.json, and (in ImageReward's own environment, envs/README.md)
the released package's model loaded and scored from the stand-in hub files.

The tests at the bottom need the `image-reward` package; it cannot be installed beside the main stack,
so they run with `.venv-image-reward/bin/python -m pytest tests/unit/test_image_reward.py`."""

import argparse
import io
import json
import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

from sdprune.evaluation.metrics import image_reward as ir
from sdprune.io import load_tensors
from sdprune.rehearsal.metric_standins import (BERT_SPECIAL_IDS, BERT_VOCAB_SIZE, IMAGE_REWARD_MED_CONFIG,
                                               bert_standin_vocab, write_bert_tokenizer_repo)

# A small BERT for the tests: the package's MLP head fixes hidden_size at 768; everything else may shrink.
TINY_MED_CONFIG = dict(IMAGE_REWARD_MED_CONFIG, num_hidden_layers=1, intermediate_size=64, num_attention_heads=2)


def write_pickle(path, obj):
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    path.write_bytes(buffer.getvalue())
    return path


def test_a_state_dict_of_tensors_loads_with_weights_only(tmp_path):
    state = OrderedDict(a=torch.arange(6.0).view(2, 3), b=torch.ones(4, dtype=torch.float16))
    loaded = ir.tensors_of_checkpoint(write_pickle(tmp_path / "ok.pt", state))
    assert loaded.keys() == state.keys() and all(torch.equal(loaded[k], state[k]) for k in state)


@pytest.mark.parametrize("payload", [
    {"weights": torch.zeros(2), "args": argparse.Namespace(lr=1.0)},  # an arbitrary object: unpickling refused
    {"weights": torch.zeros(2), "epoch": 3},  # weights_only accepts ints, but it is no tensor
    [torch.zeros(2)],  # not a dict
])
def test_anything_but_named_tensors_is_refused(tmp_path, payload):
    with pytest.raises(ir.UnsafeCheckpoint):
        ir.tensors_of_checkpoint(write_pickle(tmp_path / "bad.pt", payload))


def test_the_standin_bert_vocabulary_has_bert_base_uncaseds_size_and_special_ids():
    vocab = bert_standin_vocab()
    assert len(vocab) == BERT_VOCAB_SIZE == IMAGE_REWARD_MED_CONFIG["vocab_size"] - 2  # + BLIP's [DEC], [ENC]
    assert all(vocab[i] == token for token, i in BERT_SPECIAL_IDS.items())
    assert len(set(vocab)) == len(vocab)


def serve_hub(monkeypatch, hub: Path):
    """huggingface_hub.hf_hub_download answered from ``hub/<repo id>/<file>``; returns the files asked for."""
    import huggingface_hub

    asked = []

    def hf_hub_download(repo_id, filename, revision=None, cache_dir=None, **kwargs):
        asked.append(f"{repo_id}/{filename}")
        path = hub / repo_id / filename
        if not path.exists():
            raise FileNotFoundError(path)
        return str(path)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", hf_hub_download)
    return asked


@pytest.fixture()
def pickled_hub(tmp_path):
    """THUDM/ImageReward as published (a pickled state dict + med_config) and BERT's tokenizer, stand-in content."""
    repo = tmp_path / "hub" / ir.REPO_ID
    repo.mkdir(parents=True)
    state = OrderedDict((f"mlp.layers.{i}.weight", torch.randn(3, 3)) for i in range(3))
    write_pickle(repo / ir.CHECKPOINT, state)
    (repo / ir.MED_CONFIG).write_text(json.dumps(IMAGE_REWARD_MED_CONFIG))
    write_bert_tokenizer_repo(tmp_path / "hub" / ir.TOKENIZER_REPO)
    return tmp_path / "hub", state


def test_fetch_stores_safetensors_and_the_files_scoring_reads_offline(pickled_hub, tmp_path, monkeypatch):
    from transformers import BertTokenizer

    hub, state = pickled_hub
    asked = serve_hub(monkeypatch, hub)
    out = ir.fetch_image_reward(tmp_path / "weights")
    assert sorted(p.name for p in out.iterdir()) == [ir.WEIGHTS_FILE, ir.MED_CONFIG, ir.TOKENIZER_DIR]
    stored = load_tensors(out / ir.WEIGHTS_FILE)
    assert stored.keys() == state.keys() and all(torch.equal(stored[k], state[k]) for k in state)
    assert json.loads((out / ir.MED_CONFIG).read_text()) == IMAGE_REWARD_MED_CONFIG
    assert asked[0] == "THUDM/ImageReward/ImageReward.pt" and "google-bert/bert-base-uncased/vocab.txt" in asked
    tokenizer = BertTokenizer.from_pretrained(str(out / ir.TOKENIZER_DIR), local_files_only=True)
    ids = tokenizer("A Red square")["input_ids"]
    assert ids[0] == 101 and ids[-1] == 102 and 100 not in ids  # [CLS] ... [SEP], lower-cased, nothing unknown


def test_fetch_refuses_a_checkpoint_with_objects_and_leaves_nothing(pickled_hub, tmp_path, monkeypatch):
    hub, _ = pickled_hub
    write_pickle(hub / ir.REPO_ID / ir.CHECKPOINT, {"model": torch.zeros(1), "args": argparse.Namespace(x=1)})
    serve_hub(monkeypatch, hub)
    with pytest.raises(ir.UnsafeCheckpoint):
        ir.fetch_image_reward(tmp_path / "weights")
    assert not (tmp_path / "weights").exists()  # atomic: no half-written folder for Snakemake to trust


def test_score_merges_the_rewards_into_the_record_and_the_per_image_table(tmp_path):
    import pandas as pd

    from sdprune.workflow.stages.score import _optional_metrics

    rewards = {"image_reward": 0.25, "image_reward_std": 0.5, "per_image": [-0.25, 0.75], "num_images": 2}
    (tmp_path / "image_reward.json").write_text(json.dumps(rewards))
    per_image = {"file": ["000000.png", "000001.png"]}
    found = _optional_metrics([Path("a"), Path("b")], per_image, None, tmp_path / "image_reward.json", "cpu", 2)
    assert found == {"image_reward": 0.25, "image_reward_std": 0.5}
    assert pd.DataFrame(per_image)["image_reward"].tolist() == [-0.25, 0.75]
    with pytest.raises(ValueError, match="scored 2 images, not 3"):
        _optional_metrics([Path("a")] * 3, {}, None, tmp_path / "image_reward.json", "cpu", 2)


def test_another_interpreter_without_the_package_fails_with_the_way_to_get_it(tmp_path):
    """The pip path: the job calls the configured Python; a wrong one fails loudly, naming the environment."""
    pytest.importorskip("open_clip")  # the main environment, where `image-reward` must be absent
    if _has_image_reward():
        pytest.skip("this interpreter has image-reward: the failure cannot be shown here")
    from sdprune.workflow.stages.score_image_reward import rewards_in_interpreter

    with pytest.raises(RuntimeError, match="envs/image-reward"):
        rewards_in_interpreter(sys.executable, tmp_path, [tmp_path / "000000.png"], ["a prompt"], "cpu")


def _has_image_reward() -> bool:
    import importlib.util

    return importlib.util.find_spec("ImageReward") is not None


# --- in ImageReward's own environment ---------------------------------------------------------------------


@pytest.fixture()
def tiny_vit(monkeypatch):
    """ImageReward hard-wires BLIP's ViT-L (300 M parameters); the tests swap in a 1-block ViT through the
    package's own `create_vit` hook, so writing, loading and scoring take a second."""
    blip_pretrain = pytest.importorskip("ImageReward.models.BLIP.blip_pretrain")
    from ImageReward.models.BLIP.vit import VisionTransformer

    def create_vit(vit, image_size, *args, **kwargs):
        return VisionTransformer(img_size=image_size, patch_size=16, embed_dim=64, depth=1, num_heads=2), 64

    monkeypatch.setattr(blip_pretrain, "create_vit", create_vit)


@pytest.fixture()
def standin_hub(tiny_vit, tmp_path):
    from sdprune.rehearsal.metric_standins import write_image_reward_repo

    hub = tmp_path / "hub"
    tokenizer = write_bert_tokenizer_repo(hub / ir.TOKENIZER_REPO)
    write_image_reward_repo(hub / ir.REPO_ID, tokenizer, seed=0, med_config=TINY_MED_CONFIG)
    return hub


@pytest.fixture()
def images(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    files = []
    for i in range(3):
        files.append(tmp_path / f"{i:06d}.png")
        Image.fromarray((rng.random((48, 64, 3)) * 255).astype(np.uint8)).save(files[-1])
    return files


def test_the_standin_checkpoint_is_the_packages_own_state_dict(standin_hub):
    state = torch.load(standin_hub / ir.REPO_ID / ir.CHECKPOINT, weights_only=True)
    model = ir.build_image_reward(standin_hub / ir.REPO_ID / ir.MED_CONFIG, standin_hub / ir.TOKENIZER_REPO)
    assert state.keys() == model.state_dict().keys()
    assert "mlp.layers.0.weight" in state and state["mlp.layers.0.weight"].shape == (1024, 768)


def test_fetched_model_scores_as_the_packages_own_load_does(standin_hub, images, tmp_path, monkeypatch):
    """Our path (safetensors, local tokenizer, strict key check) gives the released `ImageReward.load`'s rewards."""
    import ImageReward
    from ImageReward.models.BLIP import blip

    serve_hub(monkeypatch, standin_hub)
    model = ir.load_image_reward(ir.fetch_image_reward(tmp_path / "weights"))
    prompts = ["a red square", "a blue circle to the left of a green cross", "a dog"]
    ours = ir.image_rewards(model, images, prompts)
    assert ours.shape == (3,) and np.isfinite(ours).all() and len(set(ours.tolist())) == 3
    assert np.array_equal(ours, ir.image_rewards(model, images, prompts))  # deterministic in eval mode

    monkeypatch.setattr(blip, "BertTokenizer", ir._local_tokenizer(standin_hub / ir.TOKENIZER_REPO))
    released = ImageReward.load(str(standin_hub / ir.REPO_ID / ir.CHECKPOINT), device="cpu",
                                med_config=str(standin_hub / ir.REPO_ID / ir.MED_CONFIG))
    theirs = np.array([released.score(p, str(f)) for f, p in zip(images, prompts)])
    assert np.allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_a_checkpoint_missing_weights_is_refused(standin_hub, tmp_path, monkeypatch):
    from sdprune.io import save_tensors

    serve_hub(monkeypatch, standin_hub)
    weights = ir.fetch_image_reward(tmp_path / "weights")
    state = load_tensors(weights / ir.WEIGHTS_FILE)
    del state["mlp.layers.0.weight"]
    save_tensors(weights / ir.WEIGHTS_FILE, state)
    with pytest.raises(ValueError, match="lacks 1 of the model's weights"):
        ir.load_image_reward(weights)


TINY_VIT_LAUNCHER = '''
import runpy, sys
from ImageReward.models.BLIP import blip_pretrain
from ImageReward.models.BLIP.vit import VisionTransformer
blip_pretrain.create_vit = lambda vit, size, *a, **k: (VisionTransformer(img_size=size, patch_size=16, embed_dim=64,
                                                                         depth=1, num_heads=2), 64)
assert sys.argv[1] == "-m"
module, sys.argv = sys.argv[2], [sys.argv[2], *sys.argv[3:]]
runpy.run_module(module, run_name="__main__")
'''


def test_the_pip_path_scores_in_another_interpreter_as_in_process(standin_hub, images, tmp_path, monkeypatch):
    """scoring.image_reward_python: the stage runs the library's `main` in the named Python and reads its
    rewards back. The named Python here is this one behind a launcher that applies the tiny ViT too."""
    import stat

    from sdprune.workflow.stages.score_image_reward import score_image_reward

    serve_hub(monkeypatch, standin_hub)
    weights = ir.fetch_image_reward(tmp_path / "weights")
    (tmp_path / "launcher.py").write_text(TINY_VIT_LAUNCHER)
    python = tmp_path / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{tmp_path / "launcher.py"}" "$@"\n')
    python.chmod(python.stat().st_mode | stat.S_IEXEC)
    images_dir = images[0].parent
    prompts = ["a red square", "a dog", "two cats"]
    there = score_image_reward(images_dir=images_dir, prompts=prompts, weights_dir=weights,
                               out_path=tmp_path / "there.json", device="cpu", python=str(python))
    here = score_image_reward(images_dir=images_dir, prompts=prompts, weights_dir=weights,
                              out_path=tmp_path / "here.json", device="cpu")
    assert there["interpreter"] == str(python) and there["num_images"] == 3
    assert np.allclose(there["per_image"], here["per_image"], rtol=1e-6, atol=1e-7)
    assert there["image_reward"] == pytest.approx(np.mean(here["per_image"]))


def test_an_environment_without_image_reward_says_how_to_get_one(monkeypatch, tmp_path):
    """The main environment cannot import ImageReward: the job names the two ways to its own environment
    instead of ending in an import traceback."""
    import importlib.util

    from sdprune.workflow.stages import score_image_reward as stage

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ImageReward" else real_find_spec(name, *a))
    with pytest.raises(RuntimeError, match="scoring.image_reward_python.*make venv-image-reward.*conda"):
        stage.rewards_in_process(tmp_path, [], [], "cpu")
