"""A procedural toy world: seeded 64x64 scenes of one to three flat objects, with captions.

Every scene is a dark grey background with 1-3 non-overlapping objects, each a
(colour, shape, size) from small fixed vocabularies, drawn by an exact numpy
raster (a pixel is inside a shape iff its centre is; no anti-aliasing), so the
pixels are identical on every machine. Objects occupy disjoint column ranges
with a gap between them, so "left to right" is never ambiguous.

Caption grammar (objects always listed left to right)::

    object   := "a" SIZE COLOUR SHAPE              e.g. "a small red circle"
    1 object := object
    2 objects:= object "to the left of" object
    3 objects:= object "," object "and" object

A scene is a pure function of (index, seed, split): its generator is a numpy
SeedSequence over (seed, index) with a split-specific spawn key, so train and
eval draw from different streams and any index can be regenerated alone.

Held-out combinations: the (colour, shape) pairs in ``HELD_OUT`` (5 of 28,
18 %) never occur in ``split="train"``; every ``split="eval"`` scene contains
at least one of them (its other objects may be any pair).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

IMAGE_SIZE = 64
BACKGROUND = (40, 40, 40)  # dark grey: every palette colour is >= 160 away from it in RGB
# Saturated primaries/secondaries plus white: pairwise RGB distances >= 160, hues ~60 degrees apart.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 20, 20),
    "green": (20, 200, 20),
    "blue": (30, 60, 230),
    "yellow": (240, 230, 20),
    "magenta": (220, 20, 220),
    "cyan": (20, 220, 220),
    "white": (240, 240, 240),
}
SHAPES = ("circle", "square", "triangle", "cross")
SIZES: dict[str, int] = {"small": 11, "large": 17}  # bounding-box side in pixels; odd, so crosses centre
HELD_OUT = frozenset({
    ("red", "triangle"), ("green", "cross"), ("blue", "circle"), ("yellow", "square"), ("magenta", "cross"),
})
SPLITS = ("train", "eval")

_BORDER = 2  # pixels kept free along the image edges
_GAP = 4  # minimum empty columns between neighbouring objects
_STREAM = 0x5CE7E  # spawn-key prefix of the scene streams, distinct from sdprune.seeding's
_SPLIT_KEY = {"train": 1, "eval": 2}
_ALL_PAIRS = tuple((c, s) for c in COLOURS for s in SHAPES)


@dataclass(frozen=True)
class ObjectSpec:
    """What a caption asks for; ``size`` is None when a caption does not say."""

    colour: str
    shape: str
    size: str | None = None


@dataclass(frozen=True)
class SceneObject:
    colour: str
    shape: str
    size: str
    x: int  # left column of the bounding box
    y: int  # top row of the bounding box

    @property
    def spec(self) -> ObjectSpec:
        return ObjectSpec(self.colour, self.shape, self.size)


@dataclass(frozen=True)
class Scene:
    index: int
    seed: int
    split: str
    objects: tuple[SceneObject, ...]  # sorted left to right


def allowed_pairs(split: str) -> tuple[tuple[str, str], ...]:
    """The (colour, shape) pairs a scene of ``split`` may contain."""
    _check_split(split)
    return tuple(p for p in _ALL_PAIRS if p not in HELD_OUT) if split == "train" else _ALL_PAIRS


def scene(index: int, seed: int = 0, split: str = "train") -> Scene:
    """Scene ``index`` of the (seed, split) stream; the same arguments always give the same scene."""
    _check_split(split)
    sequence = np.random.SeedSequence([int(seed), int(index)], spawn_key=(_STREAM, _SPLIT_KEY[split]))
    rng = np.random.default_rng(sequence)
    count = int(rng.integers(1, 4))
    pairs = _draw_pairs(rng, count, split)
    sizes = [str(rng.choice(list(SIZES))) for _ in range(count)]
    xs = _column_starts(rng, [SIZES[s] for s in sizes])
    objects = []
    for (colour, shape), size, x in zip(pairs, sizes, xs):
        y = int(rng.integers(_BORDER, IMAGE_SIZE - _BORDER - SIZES[size] + 1))
        objects.append(SceneObject(colour, shape, size, x, y))
    return Scene(int(index), int(seed), split, tuple(objects))


def scenes(count: int, seed: int = 0, split: str = "train", start: int = 0) -> list[Scene]:
    return [scene(i, seed, split) for i in range(start, start + count)]


def _draw_pairs(rng: np.random.Generator, count: int, split: str) -> list[tuple[str, str]]:
    """``count`` distinct (colour, shape) pairs, in left-to-right order; eval puts a held-out one anywhere."""
    pool = list(allowed_pairs(split))
    if split == "train":
        return [pool[i] for i in rng.choice(len(pool), size=count, replace=False)]
    held = sorted(HELD_OUT)
    first = held[int(rng.integers(len(held)))]
    rest = [p for p in pool if p != first]
    pairs = [first] + [rest[i] for i in rng.choice(len(rest), size=count - 1, replace=False)]
    return [pairs[i] for i in rng.permutation(count)]  # the held-out object need not be leftmost


def _column_starts(rng: np.random.Generator, widths: list[int]) -> list[int]:
    """Left columns for objects of these widths, in order, with >= _GAP empty columns between them."""
    slack = IMAGE_SIZE - 2 * _BORDER - sum(widths) - _GAP * (len(widths) - 1)
    assert slack >= 0, "three large objects must fit side by side"
    cuts = np.sort(rng.integers(0, slack + 1, size=len(widths)))
    extra = np.diff(np.concatenate([[0], cuts]))  # (n,) spare columns before each object
    starts, x = [], _BORDER
    for width, pad in zip(widths, extra):
        x += int(pad)
        starts.append(x)
        x += width + _GAP
    return starts


def shape_mask(shape: str, x: int, y: int, side: int, image_size: int = IMAGE_SIZE) -> np.ndarray:
    """(H, W) bool: the pixels whose centres lie inside the shape with bounding box (x, y, side)."""
    rows, cols = np.mgrid[0:image_size, 0:image_size] + 0.5  # (H, W) pixel-centre coordinates
    cx, cy, half = x + side / 2, y + side / 2, side / 2
    in_box = (cols >= x) & (cols < x + side) & (rows >= y) & (rows < y + side)
    if shape == "square":
        return in_box
    if shape == "circle":
        return (cols - cx) ** 2 + (rows - cy) ** 2 <= half**2
    if shape == "triangle":  # apex up, base along the bottom: half-width grows by 1/2 per row
        return in_box & (np.abs(cols - cx) <= (rows - y) / 2)
    if shape == "cross":  # a plus sign with arms a third of the side wide
        arm = side / 6
        return in_box & ((np.abs(cols - cx) <= arm) | (np.abs(rows - cy) <= arm))
    raise ValueError(f"unknown shape {shape!r}")


def render(scene: Scene) -> np.ndarray:
    """(64, 64, 3) uint8 image of the scene; exact palette colours, no anti-aliasing."""
    image = np.empty((IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    image[:] = BACKGROUND
    for obj in scene.objects:
        image[shape_mask(obj.shape, obj.x, obj.y, SIZES[obj.size])] = COLOURS[obj.colour]
    return image


def describe(spec: ObjectSpec) -> str:
    size = f"{spec.size} " if spec.size else ""
    return f"a {size}{spec.colour} {spec.shape}"


def caption(scene: Scene) -> str:
    """The scene's caption, objects listed left to right (see the module docstring's grammar)."""
    phrases = [describe(obj.spec) for obj in scene.objects]
    if len(phrases) == 1:
        return phrases[0]
    if len(phrases) == 2:
        return f"{phrases[0]} to the left of {phrases[1]}"
    return f"{', '.join(phrases[:-1])} and {phrases[-1]}"


_OBJECT_RE = re.compile(
    rf"\ban? (?:({'|'.join(SIZES)}) )?({'|'.join(COLOURS)}) ({'|'.join(SHAPES)})\b"
)


def parse_caption(text: str) -> list[ObjectSpec]:
    """The objects a caption asks for, left to right; ``size`` is None where the caption omits it.

    Accepts the grammar above and also "X to the right of Y" (returned as [Y, X]).
    Raises ValueError when no object phrase is found.
    """
    text = " ".join(text.lower().split())
    specs = [ObjectSpec(colour, shape, size or None) for size, colour, shape in _OBJECT_RE.findall(text)]
    if not specs:
        raise ValueError(f"no object in caption {text!r}")
    if len(specs) == 2 and " to the right of " in text:
        specs.reverse()
    return specs


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
