"""The toy model source: its layouts, its pipeline shape, and training that is seeded end to end."""

import dataclasses
import os

import numpy as np
import pytest
import torch

from sdprune.models.architectures import LATENT_CELL, LATENT_CHANNELS, MAX_TOKENS
from sdprune.models.build import build_pipeline
from sdprune.models.toy.layouts import layout_latent
from sdprune.models.toy.training import CompactEmbedding, ToyTraining, train_toy_pipeline
from sdprune.scenes import world

QUICK = ToyTraining(steps=6, batch_size=4, vae_steps=4, vae_batch_size=4, num_scenes=32)


def test_layout_latent_holds_each_objects_area_colour_and_shape():
    for scene in world.scenes(20, seed=1, split="train"):
        latent = layout_latent(scene)
        assert latent.shape == (LATENT_CHANNELS, 8, 8)
        for k, shape in enumerate(world.SHAPES):
            pixels = sum(world.shape_mask(o.shape, o.x, o.y, world.SIZES[o.size]).sum()
                         for o in scene.objects if o.shape == shape)
            # Each cell averages LATENT_CELL**2 pixels: the coverage channel sums to the shape's area.
            assert latent[3 + k].sum() * LATENT_CELL**2 == pytest.approx(pixels, abs=1e-3)


def test_layout_latent_puts_the_leftmost_object_left():
    scene = next(s for s in world.scenes(50, seed=2, split="train") if len(s.objects) == 3)
    columns = [np.nonzero(layout_latent(world.Scene(0, 0, "train", (o,)))[3:].sum(axis=(0, 1)))[0].mean()
               for o in scene.objects]
    assert columns == sorted(columns)


def test_untrained_toy_pipeline_pads_prompts_to_its_position_embeddings():
    pipe = build_pipeline("toy", seed=0)
    assert pipe.tokenizer.model_max_length == MAX_TOKENS == pipe.text_encoder.config.max_position_embeddings
    longest = max((world.caption(s) for s in world.scenes(2000, split="eval")), key=lambda c: len(pipe.tokenizer(c).input_ids))
    assert len(pipe.tokenizer(longest).input_ids) <= MAX_TOKENS


def test_compact_embedding_trains_only_the_used_rows_and_writes_them_back():
    full = torch.nn.Embedding(10, 3)
    before = full.weight.detach().clone()
    compact = CompactEmbedding(full, torch.tensor([2, 5]))
    assert torch.equal(compact(torch.tensor([[5, 2]])), before[[5, 2]][None])
    with torch.no_grad():
        compact.weight += 1.0
    after = compact.write_back().weight.detach()
    assert torch.equal(after[[2, 5]], before[[2, 5]] + 1.0)
    assert torch.equal(after[[0, 1, 3, 4, 6, 7, 8, 9]], before[[0, 1, 3, 4, 6, 7, 8, 9]])


def _weights(pipe) -> dict[str, torch.Tensor]:
    return {f"{c}.{k}": v for c in ("unet", "text_encoder", "vae") for k, v in getattr(pipe, c).state_dict().items()}


def test_training_is_deterministic_per_seed():
    # The autoencoder trains in a child process; the denoiser switches thread count after step 3
    # (two threads here when the machine has them), wherever the child has got to by then.
    recipe = dataclasses.replace(QUICK, overlap_steps=3)
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    first, again, other = (_weights(train_toy_pipeline(seed=s, recipe=recipe)) for s in (0, 0, 1))
    assert first.keys() == again.keys()
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not torch.equal(first["unet.conv_in.weight"], other["unet.conv_in.weight"])
    assert torch.get_num_threads() == min(2, os.cpu_count() or 1)  # the switch to one thread is undone


def test_training_changes_every_component_and_sets_the_latent_scale():
    untrained = _weights(build_pipeline("toy", seed=0))
    pipe = train_toy_pipeline(seed=0, recipe=QUICK)
    trained = _weights(pipe)
    for component in ("unet", "text_encoder", "vae"):
        changed = [k for k in trained if k.startswith(component) and not torch.equal(trained[k], untrained[k])]
        assert changed, component
    assert pipe.vae.config.scaling_factor != build_pipeline("toy", seed=0).vae.config.scaling_factor
