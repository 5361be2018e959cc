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
