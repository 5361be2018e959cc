import numpy as np
import pytest
import torch
from PIL import Image

from sdprune.metrics.clip_score import ClipScorer
from sdprune.metrics.fid import folder_features, frechet_distance, load_feature_extractor
from sdprune.metrics.standins import save_standin_clip, save_standin_inception


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
    from sdprune.metrics.fid import PYTORCH_FID_FILE

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
    clean = folder_features(few, extract, protocol="paper", batch_size=8)
    stretched = folder_features(few, extract, protocol="paper", reference=True, batch_size=8)
    assert clean.shape == (8, 2048)
    assert np.isfinite(clean).all()
    # 64 px images: the reference path resizes with PIL bicubic first, so features differ slightly.
    assert np.abs(clean - stretched).max() > 1e-3 * np.abs(clean).max()


def test_unknown_protocol_is_rejected(image_sets, tmp_path):
    extract = load_feature_extractor(save_standin_inception(tmp_path / "fid"))
    with pytest.raises(ValueError, match="unknown FID protocol"):
        folder_features(image_sets / "clean", extract, protocol="tensorflow")
