import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sdprune.io import load_tensors
from sdprune.evaluation.metrics.clip_score import ClipScorer
from sdprune.evaluation.metrics.fid import folder_features, frechet_distance, load_feature_extractor
from sdprune.evaluation.metrics.standins import save_standin_clip, save_standin_inception


def write_images(folder, arrays):
    folder.mkdir()
    for i, array in enumerate(arrays):
        Image.fromarray(np.clip(array, 0, 255).astype(np.uint8)).save(folder / f"{i:06d}.png")


@pytest.fixture(scope="module")
def image_sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    clean = [np.array(Image.fromarray((rng.random((8, 8, 3)) * 255).astype(np.uint8)).resize((64, 64), Image.BICUBIC),
                      dtype=float) for _ in range(40)]
    write_images(root / "clean", clean)
    write_images(root / "noisy", [c + rng.normal(0, 25, c.shape) for c in clean])
    write_images(root / "noisier", [c + rng.normal(0, 60, c.shape) for c in clean])
    return root


def test_standin_fid_is_not_degenerate(image_sets, tmp_path):
    weights = save_standin_inception(tmp_path / "fid")
    extract = load_feature_extractor(weights)
    clean = folder_features(image_sets / "clean", extract)
    noisy = folder_features(image_sets / "noisy", extract)
    noisier = folder_features(image_sets / "noisier", extract)
    assert clean.shape == (40, 64)
    assert abs(frechet_distance(clean, clean)) < 1e-3
    near, far = frechet_distance(clean, noisy), frechet_distance(clean, noisier)
    assert near > 1.0  # clearly more than a set against itself
    assert far > near  # and it grows with the damage


def test_frechet_distance_of_a_shifted_set_is_the_squared_shift():
    """Same covariance, means apart by 2 in each of 4 dimensions: the distance is 4 * 2**2 = 16."""
    features = np.random.default_rng(0).normal(size=(500, 4))
    assert frechet_distance(features, features + 2.0) == pytest.approx(16.0, abs=1e-6)


def test_clip_score_is_the_raw_cosine(image_sets, tmp_path):
    scorer = ClipScorer(save_standin_clip(tmp_path / "clip"))
    images = sorted((image_sets / "clean").glob("*.png"))[:3]
    prompts = ["a dog", "a cat", "an ocean sunset"]
    cosines = scorer.cosines(images, prompts, batch_size=2)
    with torch.no_grad():
        pixels = torch.stack([scorer.preprocess(Image.open(p).convert("RGB")) for p in images])
        image_emb = scorer.model.encode_image(pixels)
        text_emb = scorer.model.encode_text(scorer.tokenizer(prompts))
    expected = torch.nn.functional.cosine_similarity(image_emb, text_emb).numpy()
    np.testing.assert_allclose(cosines, expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="3 images but 2 prompts"):
        scorer.cosines(images, prompts[:2])


def test_missing_feature_network_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no FID feature network"):
        load_feature_extractor(tmp_path)


def test_paper_protocol_uses_pytorch_fid_weights_from_disk(image_sets, tmp_path):
    """pytorch-fid's network, weights read from a local safetensors file (no download), 2048 features."""
    from unittest import mock

    from cleanfid import inception_pytorch

    from sdprune.io import save_tensors
    from sdprune.evaluation.metrics.fid import PYTORCH_FID_FILE

    torch.manual_seed(0)
    with mock.patch.object(inception_pytorch, "load_state_dict_from_url", side_effect=lambda *a, **k: None), \
            mock.patch("torch.nn.Module.load_state_dict"):
        random_net = inception_pytorch.fid_inception_v3()
    (tmp_path / "pt").mkdir()
    save_tensors(tmp_path / "pt" / PYTORCH_FID_FILE, random_net.state_dict())
    extract = load_feature_extractor(tmp_path / "pt")
    few = tmp_path / "few"  # the full Inception at 299 px is slow on a CPU: eight images are enough here
    few.mkdir()
    for image in sorted((image_sets / "clean").iterdir())[:8]:
        (few / image.name).write_bytes(image.read_bytes())
    paper = folder_features(few, extract, protocol="paper", reference=True, batch_size=8)
    clean = folder_features(few, extract, protocol="clean", reference=True, batch_size=8)
    assert paper.shape == (8, 2048)
    assert np.isfinite(paper).all()
    # 64 px PNGs: JPEG, bicubic 299, JPEG again (paper) vs clean-fid's float bicubic (clean)
    assert np.abs(clean - paper).max() > 1e-3 * np.abs(clean).max()


def test_unknown_protocol_is_rejected(image_sets, tmp_path):
    extract = load_feature_extractor(save_standin_inception(tmp_path / "fid"))
    with pytest.raises(ValueError, match="unknown FID protocol"):
        folder_features(image_sets / "clean", extract, protocol="tensorflow")


def _released_code_files(sources, tmp_path):
    """The paper's FID inputs made as its released code made them, on disk: {source: file pytorch-fid read}."""
    import os
    import shutil

    generated, coco = tmp_path / "generated", tmp_path / "coco"
    generated.mkdir()
    coco.mkdir()
    targets = {}
    for i, source in enumerate(sources):  # COCO file names: 12-digit ids, .jpg
        if source.suffix == ".png":  # get_clip_score.py: generated_image.save(<folder>/<COCO name>)
            Image.open(source).save(generated / f"{i:012d}.jpg")
            targets[source] = generated / f"{i:012d}.jpg"
        else:  # main.py setup_dataset: shutil.copy of the COCO train2017 JPEG
            shutil.copy(source, coco / f"{i:012d}.jpg")
            targets[source] = coco / f"{i:012d}.jpg"
    for folder in (generated, coco):  # norm_images.py, run on both folders
        norm = Path(f"{folder}_norm")
        norm.mkdir()
        for name in os.listdir(folder):
            Image.open(folder / name).convert("RGB").resize((299, 299), resample=Image.BICUBIC).save(norm / name)
    return {source: Path(f"{target.parent}_norm") / target.name for source, target in targets.items()}


def test_paper_protocol_equals_the_released_codes_files(image_sets, tmp_path):
    """JPEG in memory == the released code's save/normalise/reopen on disk, pixel for pixel."""
    import torchvision

    from sdprune.evaluation.metrics.fid import paper_pixels

    rng = np.random.default_rng(1)
    sources = tmp_path / "sources"
    sources.mkdir()
    for name in sorted(p.name for p in (image_sets / "noisy").iterdir())[:2]:  # generated: our PNGs
        (sources / name).write_bytes((image_sets / "noisy" / name).read_bytes())
    Image.fromarray((rng.random((50, 80, 3)) * 255).astype(np.uint8)).save(sources / "wide.png")
    # references: COCO JPEGs, one greyscale as some COCO images are
    Image.fromarray((rng.random((90, 120, 3)) * 255).astype(np.uint8)).save(sources / "ref_rgb.jpg", quality=90)
    Image.fromarray((rng.random((70, 60)) * 255).astype(np.uint8)).save(sources / "ref_grey.jpg")
    files = sorted(sources.iterdir())
    read_by_pytorch_fid = _released_code_files(files, tmp_path)
    expected = {f: np.asarray(Image.open(read_by_pytorch_fid[f]).convert("RGB")) for f in files}
    for source in files:
        np.testing.assert_array_equal(paper_pixels(source), expected[source])

    # folder_features hands the extractor exactly those pixels, 0-255, in file order ...
    seen = folder_features(sources, lambda images: images.flatten(1), protocol="paper", batch_size=2)
    np.testing.assert_array_equal(seen.reshape(len(files), 3, 299, 299),
                                  np.stack([expected[f].transpose(2, 0, 1) for f in files]))
    # ... and the pytorch-fid extractor's / 255 is pytorch-fid's ToTensor(), bit for bit
    pixels = torch.from_numpy(seen[0].astype(np.float32)).reshape(3, 299, 299)
    as_pytorch_fid = torchvision.transforms.ToTensor()(Image.open(read_by_pytorch_fid[files[0]]).convert("RGB"))
    assert torch.equal(pixels / 255.0, as_pytorch_fid)
    # pytorch-fid's own bilinear resize to 299 changes nothing at 299
    batch = as_pytorch_fid[None]
    assert torch.equal(torch.nn.functional.interpolate(batch, size=(299, 299), mode="bilinear",
                                                       align_corners=False), batch)


@pytest.fixture(scope="module")
def mirrored_fid_weights(tmp_path_factory):
    """The rehearsal's stand-in FID files, under the names the real URLs end in."""
    from sdprune.rehearsal.metric_standins import write_cleanfid_inception, write_pytorch_fid_weights

    root = tmp_path_factory.mktemp("mirror")
    return {"clean": write_cleanfid_inception(root / "inception-2015-12-05.pt"),
            "paper": write_pytorch_fid_weights(root / "pt_inception-2015-12-05-6726825d.pth")}


@pytest.mark.parametrize("protocol", ["clean", "paper"])
def test_standin_fid_weights_load_through_the_project_and_are_not_degenerate(
        protocol, mirrored_fid_weights, image_sets, tmp_path):
    """Each protocol's network, fetched from a mirror URL by the project's own fetcher."""
    from sdprune.evaluation.metrics.fid import fetch_inception, fetch_pytorch_fid_inception

    fetch = {"clean": fetch_inception, "paper": fetch_pytorch_fid_inception}[protocol]
    fetch(tmp_path / "fid", url=mirrored_fid_weights[protocol].as_uri())
    extract = load_feature_extractor(tmp_path / "fid")
    feats = {}
    for name in ("clean", "noisy", "noisier"):  # six images each: Inception at 299 px is slow on a CPU
        few = tmp_path / name
        few.mkdir()
        for image in sorted((image_sets / name).iterdir())[:6]:
            (few / image.name).write_bytes(image.read_bytes())
        feats[name] = folder_features(few, extract, protocol=protocol, batch_size=6)
    assert feats["clean"].shape == (6, 2048) and np.isfinite(feats["clean"]).all()
    # scipy's sqrtm takes ~10 s at 2048-d on a CPU: one full FID here, the ordering on 256 features
    fid = frechet_distance(feats["clean"], feats["noisier"])
    print(f"{protocol}: 2048-d FID clean/noisier {fid:.4g}")
    assert np.isfinite(fid) and fid > 10.0  # an uncalibrated random Inception gives ~1e-12
    first = {name: f[:, :256] for name, f in feats.items()}
    assert abs(frechet_distance(first["clean"], first["clean"])) < 1e-3
    near, far = frechet_distance(first["clean"], first["noisy"]), frechet_distance(first["clean"], first["noisier"])
    assert 1.0 < near < far  # clearly more than a set against itself, and growing with the damage


def test_standin_fid_weights_are_seeded_and_in_the_real_formats(mirrored_fid_weights, tmp_path):
    from cleanfid.inception_torchscript import InceptionV3W

    from sdprune.rehearsal.metric_standins import write_pytorch_fid_weights

    again = write_pytorch_fid_weights(tmp_path / "again.pth")
    assert again.read_bytes() == mirrored_fid_weights["paper"].read_bytes()
    state = torch.load(again, weights_only=True)  # tensors only: loads without unpickling objects
    assert state["fc.weight"].shape == (1008, 2048) and "Mixed_7c.branch_pool.bn.running_var" in state
    # the TorchScript archive holds the same network, and runs both of InceptionV3W's paths
    (tmp_path / "ts").mkdir()
    (tmp_path / "ts" / "inception-2015-12-05.pt").write_bytes(mirrored_fid_weights["clean"].read_bytes())
    archive = InceptionV3W(str(tmp_path / "ts"), download=False, resize_inside=True).eval()
    scripted = list(archive.base.state_dict().values())
    assert len(scripted) == len(state) and all(torch.equal(a, b) for a, b in zip(scripted, state.values()))
    with torch.no_grad():
        assert archive(torch.rand(1, 3, 64, 80) * 255).shape == (1, 2048)  # its own resize to 299
        probabilities = archive.base(torch.rand(1, 3, 299, 299) * 255)
    assert probabilities.shape == (1, 1008) and torch.allclose(probabilities.sum(), torch.tensor(1.0))


def test_standin_openai_clip_repo_through_fetch_clip(image_sets, tmp_path, monkeypatch):
    """open_clip's own hub download logic, with the hub answered from the stand-in repo's files."""
    import open_clip

    from sdprune.evaluation.metrics.clip_score import fetch_clip
    from sdprune.rehearsal.metric_standins import openai_clip_config, openai_clip_hub_id, write_openai_clip_repo

    hub_id = openai_clip_hub_id()
    assert hub_id == "timm/vit_base_patch32_clip_224.openai"
    repo = write_openai_clip_repo(tmp_path / "hub" / hub_id)
    hidden, asked = set(), []

    def hf_hub_download(repo_id, filename, revision=None, cache_dir=None, **kwargs):
        asked.append(filename)
        if not (tmp_path / "hub" / repo_id / filename).exists() or filename in hidden:
            raise FileNotFoundError(f"{repo_id}/{filename}")
        return str(tmp_path / "hub" / repo_id / filename)

    monkeypatch.setattr(open_clip.pretrained, "hf_hub_download", hf_hub_download)
    fetch_clip(tmp_path / "clip", model_name="ViT-B-32", pretrained="openai")
    assert asked == ["open_clip_model.safetensors"]  # safetensors preferred; the .bin is the fallback
    hidden.add("open_clip_model.safetensors")
    fetch_clip(tmp_path / "clip_from_bin")
    assert asked[1:] == ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]
    from_bin = load_tensors(tmp_path / "clip_from_bin" / "open_clip_model.safetensors")
    from_safetensors = load_tensors(tmp_path / "clip" / "open_clip_model.safetensors")
    assert from_bin.keys() == from_safetensors.keys()
    assert all(torch.equal(from_bin[k], from_safetensors[k]) for k in from_bin)
    assert all(t.dtype == torch.float32 for t in from_bin.values())  # fp32, as the published files
    assert json.loads((repo / "open_clip_config.json").read_text()) == openai_clip_config()

    scorer = ClipScorer(tmp_path / "clip")
    assert isinstance(scorer.model.visual.transformer.resblocks[0].mlp.gelu, open_clip.transformer.QuickGELU)
    assert sum(p.numel() for p in scorer.model.parameters()) > 150_000_000  # the full ViT-B/32
    images = sorted((image_sets / "clean").glob("*.png"))[:2]
    cosines = scorer.cosines(images, ["a dog", "an ocean sunset"])
    assert cosines.shape == (2,) and np.isfinite(cosines).all() and np.abs(cosines).max() <= 1.0
    assert cosines[0] != cosines[1]


@pytest.mark.parametrize("n, d", [(300, 64), (20, 256)])
def test_frechet_distance_equals_clean_fids(n, d):
    """Full-rank and singular covariances: the eigenvalue form gives clean-fid's sqrtm value."""
    from cleanfid.fid import fid_from_feats

    rng = np.random.default_rng(n)
    a = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) * 0.1
    b = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) * 0.1 + 0.3
    assert frechet_distance(a, b) == pytest.approx(fid_from_feats(a, b), rel=1e-6)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6 * float(np.trace(np.cov(a, rowvar=False))))
