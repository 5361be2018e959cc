"""CMMD: the released code's MMD estimator, its CLIP embeddings on the stand-in network, and the score stage."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sdprune.evaluation.metrics import cmmd as cmmd_module
from sdprune.evaluation.metrics.cmmd import CmmdEmbedder, centre_crop_resize, folder_embeddings, mmd
from sdprune.evaluation.metrics.standins import save_standin_clip

from .test_metrics import image_sets as images  # noqa: F401 (a fixture: 40 images, clean / noisy / noisier)


def brute_force_mmd(x, y, sigma=10.0, scale=1000.0):
    """The released code's estimator pair by pair: mean k over x*x, y*y and x*y, diagonals included."""
    def k(a, b):
        return np.exp(-np.sum((a - b) ** 2) / (2 * sigma ** 2))

    kxx = np.mean([k(a, b) for a in x for b in x])
    kyy = np.mean([k(a, b) for a in y for b in y])
    kxy = np.mean([k(a, b) for a in x for b in y])
    return scale * (kxx + kyy - 2 * kxy)


@pytest.mark.parametrize("sigma", [10.0, 0.7])
def test_mmd_equals_the_pairwise_definition(sigma):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(7, 4)), rng.normal(0.3, 1.2, size=(5, 4))
    assert mmd(x, y, sigma=sigma) == pytest.approx(brute_force_mmd(x, y, sigma=sigma), rel=1e-10, abs=1e-12)


def test_row_blocks_do_not_change_the_value(monkeypatch):
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(11, 3)), rng.normal(size=(9, 3))
    whole = mmd(x, y, sigma=1.0)
    monkeypatch.setattr(cmmd_module, "BLOCK_ROWS", 4)  # 11 rows: blocks of 4, 4, 3
    assert mmd(x, y, sigma=1.0) == pytest.approx(whole, rel=1e-12)


def test_two_points_give_the_closed_form():
    a, b = np.array([[0.0, 0.0]]), np.array([[3.0, 4.0]])  # |a - b|^2 = 25
    assert mmd(a, b) == pytest.approx(1000 * (2 - 2 * np.exp(-25 / 200)))


def test_mmd_is_zero_for_a_set_against_itself_symmetric_and_grows_with_a_shift():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(20, 8))
    x /= np.linalg.norm(x, axis=1, keepdims=True)  # unit embeddings, as CMMD's
    assert abs(mmd(x, x)) < 1e-9  # the biased estimator: exactly 0 up to rounding
    y = rng.normal(size=(15, 8))
    assert mmd(x, y) == pytest.approx(mmd(y, x))
    shifts = [mmd(x, x + d * np.eye(8)[0]) for d in (0.05, 0.2, 0.5, 1.0)]
    assert 0 < shifts[0] < shifts[1] < shifts[2] < shifts[3]


def test_mismatched_embeddings_are_refused():
    with pytest.raises(ValueError, match="embeddings must be"):
        mmd(np.zeros((3, 4)), np.zeros((3, 5)))


def test_centre_crop_resize_takes_the_central_square():
    pixels = np.zeros((40, 100, 3), dtype=np.uint8)
    pixels[:, 30:70] = 255  # a white central square, black bars left and right
    out = np.asarray(centre_crop_resize(Image.fromarray(pixels), 20))
    assert out.shape == (20, 20, 3) and out.min() == 255


@pytest.fixture(scope="module")
def standin_clip(tmp_path_factory):
    return save_standin_clip(tmp_path_factory.mktemp("clip") / "standin")


def test_embeddings_are_unit_length_deterministic_and_rank_image_sets(images, standin_clip):
    embedder = CmmdEmbedder(standin_clip)
    assert embedder.size == 64  # the input size comes from the network's own config
    clean = folder_embeddings(images / "clean", embedder, batch_size=5)
    assert clean.shape == (40, 32) and np.allclose(np.linalg.norm(clean, axis=1), 1.0)
    assert np.array_equal(clean, folder_embeddings(images / "clean", CmmdEmbedder(standin_clip), batch_size=40))
    near = mmd(clean, folder_embeddings(images / "noisy", embedder))
    far = mmd(clean, folder_embeddings(images / "noisier", embedder))
    assert abs(mmd(clean, clean)) < 1e-9 and 0 < near < far


def test_fetch_asks_open_clip_for_openai_vit_l_14_at_336(tmp_path, monkeypatch):
    """The released network: OpenAI's CLIP ViT-L/14@336 (quick GELU, 336 px), from open_clip's hub repo."""
    import open_clip
    from safetensors.torch import save_file

    asked = []

    def download(repo_id, *args, **kwargs):
        asked.append(repo_id)
        save_file({"stand_in": torch.zeros(1)}, str(tmp_path / "weights.safetensors"))
        return str(tmp_path / "weights.safetensors")

    monkeypatch.setattr(open_clip.pretrained, "download_pretrained_from_hf", download)  # fetch_clip imports it late
    folder = cmmd_module.fetch_cmmd_clip(tmp_path / "cmmd")
    config = json.loads((folder / "open_clip_config.json").read_text())
    assert asked == ["timm/vit_large_patch14_clip_336.openai"]
    assert config["model_cfg"]["vision_cfg"]["image_size"] == 336 and config["model_cfg"]["quick_gelu"] is True
    assert config["model_cfg"]["vision_cfg"]["patch_size"] == 14 and config["model_cfg"]["embed_dim"] == 768
    # the rehearsal's stand-in hub repo for this network: the same id and the config the fetch writes
    from sdprune.rehearsal.metric_standins import openai_clip_config, openai_clip_hub_id

    assert openai_clip_hub_id(cmmd_module.MODEL_NAME, cmmd_module.PRETRAINED) == asked[0]
    assert openai_clip_config(cmmd_module.MODEL_NAME, cmmd_module.PRETRAINED) == config


def test_reference_embeddings_and_score_give_the_cmmd_of_the_two_sets(images, standin_clip, tmp_path):
    from sdprune.evaluation.metrics.standins import save_standin_inception
    from sdprune.io import load_tensors
    from sdprune.workflow.stages.reference_embeddings import reference_embeddings
    from sdprune.workflow.stages.reference_features import reference_features
    from sdprune.workflow.stages.score import _optional_metrics, score

    for name in ("clean", "noisier"):  # eight images each keep the stage's FID and CLIP passes short
        (tmp_path / name).mkdir()
        for image in sorted((images / name).glob("*.png"))[:8]:
            (tmp_path / name / image.name).write_bytes(image.read_bytes())
    reference_embeddings(images_dir=tmp_path / "clean", weights_dir=standin_clip, out_path=tmp_path / "ref.safetensors",
                         device="cpu", batch_size=4)
    reference = load_tensors(tmp_path / "ref.safetensors")["embeddings"].numpy()
    inception = save_standin_inception(tmp_path / "fid")
    reference_features(images_dir=tmp_path / "clean", metrics_dir=inception, out_path=tmp_path / "fid.safetensors",
                       device="cpu")
    record = score(images_dir=tmp_path / "noisier", prompts=[f"prompt {i}" for i in range(8)],
                   fid={"clean": (inception, tmp_path / "fid.safetensors")}, clip_dir=standin_clip, device="cpu",
                   out_path=tmp_path / "scores.json", cmmd=(standin_clip, tmp_path / "ref.safetensors"))
    expected = mmd(folder_embeddings(tmp_path / "noisier", CmmdEmbedder(standin_clip)), reference)
    assert record["cmmd"] == pytest.approx(expected, rel=1e-9) and record["cmmd"] > 0
    assert json.loads((tmp_path / "scores.json").read_text())["cmmd"] == pytest.approx(expected, rel=1e-9)
    assert _optional_metrics([], {}, None, None, "cpu", 8) == {}  # switched off: the record as before


def test_switches_off_leave_the_score_params_and_runs_table_as_they_were():
    """scoring.cmmd / scoring.image_reward default off: existing presets keep their cache keys and columns."""
    from sdprune.reporting.tables import run_row
    from sdprune.workflow.params import score_params
    from sdprune.workflow.validation import load_config

    repo = Path(__file__).resolve().parents[2]
    config = load_config(repo / "config.yaml", repo / "schemas" / "config.schema.yaml")
    assert config["scoring"]["cmmd"] is False and config["scoring"]["image_reward"] is False
    before = score_params(config)
    assert not {"cmmd", "image_reward"} & set(before)
    config["scoring"].update(cmmd=True, image_reward=True)
    assert score_params(config) == {**before, "cmmd": True, "image_reward": True}

    record = {"accounting": {"components": {"text_encoder": {"realised_sparsity": 0.0}, "unet": {"realised_sparsity": 0.0}},
                             "nominal_full_sparsity": 0.0, "true_full_sparsity": 0.0},
              "generation": {"seed": 0, "num_steps": 2, "guidance_scale": 7.5}, "seconds": 1.0}
    run = {"text_encoder": "dense", "unet": "dense", "experiments": ["dense"]}
    scores = {"fid": 10.0, "clip_score": 0.3, "num_images": 4, "seconds": 1.0}
    plain = run_row("m", run, record, scores)
    scored = run_row("m", run, record, {**scores, "cmmd": 0.8, "image_reward": -0.2, "image_reward_std": 1.0})
    assert not {"cmmd", "image_reward"} & set(plain)
    assert (scored["cmmd"], scored["image_reward"]) == (0.8, -0.2) and "image_reward_std" not in scored
