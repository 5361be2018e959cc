"""The toy scene world: determinism, held-out pairs, captions, and the exact evaluator that judges renders."""

from dataclasses import replace

import numpy as np
import pytest
from scipy import ndimage

from sdprune.scenes.judge import evaluate, prompt_accuracy
from sdprune.scenes.world import (
    COLOURS, HELD_OUT, IMAGE_SIZE, SIZES, ObjectSpec, allowed_pairs, caption, parse_caption, render, scene, scenes,
)


def degrade(image: np.ndarray, rng: np.random.Generator, sigma: float = 0.7, noise: float = 8.0) -> np.ndarray:
    """What a small diffusion model's output might look like: softened edges and pixel noise."""
    blurred = ndimage.gaussian_filter(image.astype(np.float64), sigma=(sigma, sigma, 0))  # (H, W, 3)
    return np.clip(blurred + rng.normal(0.0, noise, blurred.shape), 0, 255).round().astype(np.uint8)


@pytest.fixture(scope="module")
def eval_scenes():
    return scenes(500, seed=0, split="eval")


def test_same_arguments_give_the_same_scene_and_different_ones_differ():
    a, b = scene(7, seed=3, split="eval"), scene(7, seed=3, split="eval")
    assert a == b and caption(a) == caption(b)
    assert np.array_equal(render(a), render(b))
    renders = {render(s).tobytes() for s in scenes(50, seed=3, split="eval")}
    assert len(renders) == 50
    others = [scene(7, seed=4, split="eval"), scene(7, seed=3, split="train")]
    assert all(o.objects != a.objects for o in others)


def test_objects_fit_in_order_and_never_touch():
    for s in scenes(300, split="train") + scenes(300, split="eval"):
        assert 1 <= len(s.objects) <= 3
        spans = [(o.x, o.x + SIZES[o.size]) for o in s.objects]
        assert all(start >= 0 and end <= IMAGE_SIZE for start, end in spans)
        assert all(right[0] - left[1] >= 4 for left, right in zip(spans, spans[1:]))  # sorted, with a gap
        assert all(0 <= o.y <= IMAGE_SIZE - SIZES[o.size] for o in s.objects)
        assert len({(o.colour, o.shape) for o in s.objects}) == len(s.objects)


def test_no_train_scene_has_a_held_out_pair_and_every_eval_scene_has_one(eval_scenes):
    train_pairs = {(o.colour, o.shape) for s in scenes(2000, split="train") for o in s.objects}
    assert not train_pairs & HELD_OUT
    assert train_pairs == set(allowed_pairs("train"))  # the rest of the vocabulary is all trained on
    for s in eval_scenes:
        assert {(o.colour, o.shape) for o in s.objects} & HELD_OUT
    assert {(o.colour, o.shape) for s in eval_scenes for o in s.objects} >= HELD_OUT


def test_parse_caption_returns_the_scenes_objects_left_to_right():
    for s in scenes(200, split="train") + scenes(200, split="eval"):
        assert parse_caption(caption(s)) == [o.spec for o in s.objects]
    assert parse_caption("a red circle") == [ObjectSpec("red", "circle", None)]
    assert parse_caption("A small blue square to the right of a large white cross") == [
        ObjectSpec("white", "cross", "large"), ObjectSpec("blue", "square", "small")]
    with pytest.raises(ValueError, match="no object in caption 'a purple hexagon'"):
        parse_caption("a purple hexagon")


def test_evaluator_recovers_every_attribute_of_clean_renders(eval_scenes):
    scores = prompt_accuracy([render(s) for s in eval_scenes], [caption(s) for s in eval_scenes])
    assert set(scores) == {"prompt_accuracy", "count_accuracy", "colour_accuracy", "shape_accuracy",
                           "attribute_accuracy", "relation_accuracy"}
    assert min(scores.values()) >= 0.99, scores


def test_evaluator_survives_blur_and_noise(eval_scenes):
    rng = np.random.default_rng(0)
    images = [degrade(render(s), rng) for s in eval_scenes]
    scores = prompt_accuracy(images, [caption(s) for s in eval_scenes])
    assert min(scores.values()) >= 0.95, scores


def test_evaluator_rejects_the_render_of_another_scene(eval_scenes):
    pairs = zip(eval_scenes[:200], eval_scenes[1:201])
    wrong = [not evaluate(render(other), caption(s))["correct"] for s, other in pairs]
    assert np.mean(wrong) > 0.9


def test_swapping_two_objects_fails_only_the_relation(eval_scenes):
    checked = 0
    for s in (s for s in eval_scenes[:150] if len(s.objects) >= 2):
        first, second = s.objects[:2]
        swapped = (replace(first, colour=second.colour, shape=second.shape),
                   replace(second, colour=first.colour, shape=first.shape))
        result = evaluate(render(replace(s, objects=swapped + s.objects[2:])), caption(s))
        assert not result["relation"] and not result["correct"]
        assert result["count"] and result["colours"] and result["shapes"]
        checked += 1
    assert checked >= 50


def test_recolouring_one_object_fails_the_colours(eval_scenes):
    for s in eval_scenes[:100]:
        used = {o.colour for o in s.objects}
        new_colour = next(c for c in COLOURS if c not in used)
        recoloured = (replace(s.objects[0], colour=new_colour),) + s.objects[1:]
        result = evaluate(render(replace(s, objects=recoloured)), caption(s))
        assert not result["colours"] and not result["attributes"] and not result["correct"]
        assert result["count"] and result["shapes"]


def test_prompt_accuracy_needs_matching_non_empty_inputs():
    with pytest.raises(ValueError, match="got 0 and 0"):
        prompt_accuracy([], [])
    with pytest.raises(ValueError, match="got 1 and 2"):
        prompt_accuracy([render(scene(0))], ["a red circle", "a blue square"])
