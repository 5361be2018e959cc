import json

import open_clip
import pytest
import torch

from sdprune.models.architectures import BUILT_IN, built_in_parameter_counts, count_built_in_parameters
from sdprune.models.build import build_pipeline, build_tokenizer
from sdprune.models.loading import component_fingerprint, load_pipeline, parameter_counts


def test_tokenizer_matches_open_clip_and_pads_like_sd2():
    tokenizer = build_tokenizer()
    # No "!" in the text: like SD2's own tokenizer, ours treats its pad token "!" as special.
    prompts = ["A dog in a field", "The Eiffel Tower, at night. 2 cats?"]
    ours = tokenizer(prompts, padding="max_length", max_length=77, return_tensors="pt").input_ids
    reference = open_clip.get_tokenizer("ViT-H-14")(prompts)
    assert torch.equal(ours, reference)
    assert tokenizer.pad_token == "!" and tokenizer.convert_tokens_to_ids("!") == 0


def test_saved_tiny_model_reloads_the_built_weights(tiny_model_dir):
    built = build_pipeline("tiny", seed=0)
    loaded = load_pipeline(tiny_model_dir)
    for component in ("unet", "text_encoder", "vae"):
        for key, value in getattr(built, component).state_dict().items():
            assert torch.equal(value, getattr(loaded, component).state_dict()[key]), key
    source = json.loads((tiny_model_dir / "sdprune_source.json").read_text())
    assert source == {"source": "tiny", "revision": None, "dtype": "float32", "seed": 0}


def test_built_models_are_seeded():
    a, b = build_pipeline("tiny", seed=0), build_pipeline("tiny", seed=1)
    assert not torch.equal(a.unet.conv_in.weight, b.unet.conv_in.weight)
    assert torch.equal(a.unet.conv_in.weight, build_pipeline("tiny", seed=0).unet.conv_in.weight)


def test_parameter_counts_read_no_weights(tiny_model_dir):
    counts = parameter_counts(tiny_model_dir)
    pipe = load_pipeline(tiny_model_dir)
    assert counts == {c: sum(p.numel() for p in getattr(pipe, c).parameters()) for c in ("text_encoder", "unet")}
    assert len(component_fingerprint(tiny_model_dir, "unet")) == 64


def test_fetch_goes_through_from_pretrained_for_a_saved_pipeline(tiny_model_dir, tmp_path):
    """The hub code path (from_pretrained + save_pretrained), fed a folder instead of a hub id."""
    from sdprune.models.loading import fetch_pipeline

    out = fetch_pipeline(str(tiny_model_dir), tmp_path / "copy", dtype="float16")
    copy = load_pipeline(out, dtype="float16")
    assert copy.unet.conv_in.weight.dtype == torch.float16
    assert sorted(p.name for p in (out / "unet").iterdir()) == ["config.json", "diffusion_pytorch_model.safetensors"]
    original = load_pipeline(tiny_model_dir)
    assert torch.equal(copy.unet.conv_in.weight, original.unet.conv_in.weight.half())


def test_a_hub_id_offline_fails_without_leaving_a_folder(tmp_path, monkeypatch):
    import pytest

    from sdprune.models.loading import fetch_pipeline

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(Exception):
        fetch_pipeline("stabilityai/stable-diffusion-2", tmp_path / "sd2")
    assert not (tmp_path / "sd2").exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("source", sorted(BUILT_IN))
def test_built_in_size_table_matches_the_architectures(source):
    """The Snakefile allocates sparsity from the table; the table must be what the configs build."""
    assert built_in_parameter_counts(source) == count_built_in_parameters(source)
    if source != "sd2-random":  # 1.2 B parameters: the meta count above stands for it
        pipe = build_pipeline(source, seed=0)
        assert built_in_parameter_counts(source) == {
            c: sum(p.numel() for p in getattr(pipe, c).parameters()) for c in ("text_encoder", "unet")}
