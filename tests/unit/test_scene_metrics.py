"""The toy world's evaluation: scene prompts and reference renders, the scene FID network, prompt accuracy in scores."""

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from scipy import ndimage

from sdprune.evaluation.generation import image_name
from sdprune.evaluation.metrics.fid import SCENE_NET_FILE, folder_features, frechet_distance, load_feature_extractor
from sdprune.evaluation.metrics.scene_features import (
    CELL, PAIRS, SIZE_NAMES, SceneNetTraining, cell_targets, load_scene_net, recoloured, save_scene_net, scene_batch,
    train_scene_net,
)
from sdprune.evaluation.metrics.standins import save_standin_clip, save_standin_inception
from sdprune.evaluation.prompts import PromptRecord, read_prompt_records, write_prompt_records
from sdprune.evaluation.scene_data import CALIBRATION_START, calibration_scenes, evaluation_scenes, scene_records
from sdprune.evaluation.scene_references import render_reference_scenes, render_scene_folder
from sdprune.models.toy.training import ToyTraining
from sdprune.scenes.world import HELD_OUT, SIZES, caption, render, scenes
from sdprune.workflow.stages.reference_features import reference_features
from sdprune.workflow.stages.score import score

ACCURACY_KEYS = ("prompt_accuracy", "count_accuracy", "colour_accuracy", "shape_accuracy", "attribute_accuracy",
                 "relation_accuracy")


@pytest.fixture
def one_thread():
    """The workflow trains the network in a one-thread job; two threads on a busy machine take 10x longer."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def scene_net_dir(tmp_path_factory):
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return save_scene_net(tmp_path_factory.mktemp("fid") / "scenes", seed=0)
    finally:
        torch.set_num_threads(before)


def centre_cell(obj):
    """(row, column) of the cell holding the centre of the object's box; that cell's centre is in the box."""
    half = SIZES[obj.size] / 2
    return int((obj.y + half) // CELL), int((obj.x + half) // CELL)


def write_pngs(folder, images):
    folder.mkdir()
    for i, image in enumerate(images):
        Image.fromarray(image).save(folder / image_name(i))
    return folder


# --- prompts and reference renders -------------------------------------------------------------


def test_evaluation_prompts_are_the_eval_splits_captions_and_calibration_never_replays_training():
    evaluation = scene_records(evaluation_scenes(20, seed=3))
    assert [r.prompt for r in evaluation] == [caption(s) for s in scenes(20, seed=3, split="eval")]
    assert [r.index for r in evaluation] == list(range(20)) and evaluation[0].image_id is None
    calibration = calibration_scenes(50, seed=3)
    assert [s.index for s in calibration] == list(range(CALIBRATION_START, CALIBRATION_START + 50))
    assert CALIBRATION_START >= ToyTraining().num_scenes  # past every scene the toy model trains on
    assert all((o.colour, o.shape) not in HELD_OUT for s in calibration for o in s.objects)  # train split
    assert not {r.prompt for r in evaluation} & {caption(s) for s in calibration}


def test_reference_renders_are_the_prompts_scenes_named_as_generated_images(tmp_path):
    records = scene_records(evaluation_scenes(6, seed=1))
    write_prompt_records(tmp_path / "prompts.json", records)
    out = render_reference_scenes(read_prompt_records(tmp_path / "prompts.json"), tmp_path / "reference", seed=1)
    assert sorted(p.name for p in out.iterdir()) == [image_name(i) for i in range(6)]
    for i, item in enumerate(evaluation_scenes(6, seed=1)):
        assert np.array_equal(np.asarray(Image.open(out / image_name(i))), render(item))  # lossless
    with pytest.raises(ValueError, match="not the scene world's prompts"):
        render_reference_scenes(records, tmp_path / "other", seed=2)
    assert not (tmp_path / "other").exists()  # nothing half-written


# --- the scene FID network ---------------------------------------------------------------------


def test_cell_targets_mark_each_objects_cells_with_its_pair_and_size():
    item = evaluation_scenes(1, seed=0)[0]
    targets = cell_targets(item)  # (2, 8, 8)
    for obj in item.objects:
        centre = centre_cell(obj)
        assert PAIRS[targets[0][centre] - 1] == (obj.colour, obj.shape)
        assert SIZE_NAMES[targets[1][centre] - 1] == obj.size
    assert (targets[0] > 0).sum() < 64 and set(np.unique(targets[0] > 0)) == {False, True}


def test_scene_net_recognises_held_out_pairs_it_never_saw_in_training(scene_net_dir):
    """Eval-split scenes each hold a pair the train split lacks; recolouring taught shape colour-blind.

    Measured: 0.97 of objects (pair and size at the object's centre cell) and 0.998 of counts right.
    Chance is 1/28 for the pair alone.
    """
    net = load_scene_net(scene_net_dir / SCENE_NET_FILE)
    chosen = scenes(400, seed=0, split="eval")
    pixels, cells, counts = scene_batch(chosen)
    with torch.no_grad():
        cell_logits, count_logits = net(pixels)
    pair, size = (logits.argmax(1) for logits in torch.split(cell_logits, [len(PAIRS) + 1, len(SIZE_NAMES) + 1], 1))
    right = []
    for n, item in enumerate(chosen):
        for obj in item.objects:
            at = (n, *centre_cell(obj))
            right.append(pair[at] == cells[n, 0][at[1:]] and size[at] == cells[n, 1][at[1:]])
    assert np.mean(right) > 0.9
    assert (count_logits.argmax(1) == counts).float().mean() > 0.95


def features(net, images):
    """(N, 64) FID features of (64, 64, 3) uint8 images, straight through the network."""
    with torch.no_grad():
        return net.features(torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float()).double().numpy()


def test_clean_fid_reads_renders_as_the_network_does(scene_net_dir, tmp_path):
    """clean-fid upscales each image to 299 x 299 (bicubic) before the extractor sees it; the network's
    resize back recovers the 64 x 64 render, so the features are those of the render itself (measured: within
    0.1 of values up to ~35)."""
    renders = [render(s) for s in scenes(40, seed=0, split="eval")]
    extract = load_feature_extractor(scene_net_dir)  # clean-fid's custom-extractor path
    through_clean_fid = folder_features(write_pngs(tmp_path / "renders", renders), extract, batch_size=16)
    assert through_clean_fid.shape == (40, 64)
    np.testing.assert_allclose(through_clean_fid, features(load_scene_net(scene_net_dir / SCENE_NET_FILE), renders),
                               atol=0.5)


def test_scene_fid_separates_good_renders_from_damaged_ones(scene_net_dir):
    """Two disjoint sets of 500 eval renders are close; blurred and noised renders, and noise images, are far.

    Measured: 4.1 between the render sets, 37 to blurred (sigma 1) and noised (sigma 8) renders, 15,000 to
    uniform noise images.
    """
    net = load_scene_net(scene_net_dir / SCENE_NET_FILE)
    rng = np.random.default_rng(0)
    a = [render(s) for s in scenes(500, seed=0, split="eval")]
    b = [render(s) for s in scenes(500, seed=0, split="eval", start=500)]
    damaged = [np.clip(ndimage.gaussian_filter(x.astype(float), (1.0, 1.0, 0)) + rng.normal(0, 8, x.shape), 0, 255)
               .astype(np.uint8) for x in b]
    noise = [rng.integers(0, 256, x.shape, dtype=np.uint8) for x in b]
    reference = features(net, a)
    same = frechet_distance(reference, features(net, b))
    assert 0 < same
    assert frechet_distance(reference, features(net, damaged)) > 4 * same
    assert frechet_distance(reference, features(net, noise)) > 1000 * same


def test_scene_net_training_is_seeded(one_thread):
    recipe = SceneNetTraining(steps=3, num_scenes=64)
    first, again = train_scene_net(seed=0, recipe=recipe), train_scene_net(seed=0, recipe=recipe)
    other = train_scene_net(seed=1, recipe=recipe)
    for name, value in first.state_dict().items():
        assert torch.equal(value, again.state_dict()[name])
    assert not torch.equal(first.trunk[0].weight, other.trunk[0].weight)


def test_recolouring_keeps_the_layout_and_permutes_the_palette():
    item = scenes(1, seed=0, split="train")[0]
    shifted = recoloured(item, np.random.default_rng(4))
    assert [dataclasses.replace(o, colour="") for o in shifted.objects] == \
        [dataclasses.replace(o, colour="") for o in item.objects]
    assert len({o.colour for o in shifted.objects}) == len({o.colour for o in item.objects})


def test_other_weights_are_not_taken_for_the_scene_network(tmp_path):
    save_standin_inception(tmp_path / "fid")
    (tmp_path / "fid" / "inception-standin.safetensors").rename(tmp_path / "fid" / SCENE_NET_FILE)
    with pytest.raises(ValueError, match="not a scene feature network"):
        load_feature_extractor(tmp_path / "fid")


# --- prompt accuracy in the score stage --------------------------------------------------------


@pytest.fixture(scope="module")
def scored_renders(tmp_path_factory):
    """Ground-truth renders of 24 eval scenes, scored against their own captions and against others'."""
    root = tmp_path_factory.mktemp("score")
    chosen = evaluation_scenes(24, seed=0)
    images = render_scene_folder(chosen, root / "images")
    fid_dir, clip_dir = save_standin_inception(root / "fid"), save_standin_clip(root / "clip")
    reference_features(images_dir=images, metrics_dir=fid_dir, out_path=root / "reference.safetensors", device="cpu")
    common = dict(images_dir=images, fid={"clean": (fid_dir, root / "reference.safetensors")}, clip_dir=clip_dir,
                  device="cpu", batch_size=8)
    own = [caption(s) for s in chosen]
    others = [caption(s) for s in evaluation_scenes(48, seed=0)[24:]]
    return {
        "own": score(prompts=own, out_path=root / "own.json", per_image_path=root / "own.csv", judge_prompts=True,
                     **common),
        "others": score(prompts=others, out_path=root / "others.json", per_image_path=root / "others.csv",
                        judge_prompts=True, **common),
        "unjudged": score(prompts=own, out_path=root / "unjudged.json", per_image_path=root / "unjudged.csv",
                          **common),
        "root": root,
    }


def test_renders_of_their_own_captions_are_judged_correct(scored_renders):
    root = scored_renders["root"]
    record = json.loads((root / "own.json").read_text())
    assert record["prompt_accuracy"] >= 0.99
    assert all(record[key] >= 0.99 for key in ACCURACY_KEYS)
    per_image = pd.read_csv(root / "own.csv")
    assert per_image["correct"].dtype == bool and per_image["correct"].all() and len(per_image) == 24


def test_renders_of_other_captions_are_judged_wrong(scored_renders):
    root = scored_renders["root"]
    record = json.loads((root / "others.json").read_text())
    assert record["prompt_accuracy"] <= 0.2
    per_image = pd.read_csv(root / "others.csv")
    assert per_image["correct"].mean() == pytest.approx(record["prompt_accuracy"])


def test_prompt_accuracy_is_absent_unless_asked(scored_renders):
    root = scored_renders["root"]
    record = json.loads((root / "unjudged.json").read_text())
    assert not set(ACCURACY_KEYS) & set(record)
    assert "correct" not in pd.read_csv(root / "unjudged.csv").columns
    assert record["fid"] == pytest.approx(scored_renders["own"]["fid"])  # the rest is unchanged
