"""An exact judge of toy-scene images against their captions; no learned network.

Detection, in three steps:

1. Colour per pixel. Blurred edges mix an object's colour with the background,
   and such a mix can sit nearer in plain RGB to a *different* palette colour
   (yellow half-faded into grey is as near green as yellow). So each pixel is
   matched to the nearest point of every segment background -> palette colour;
   it gets that colour if it lies at least half-way along (so object masks keep
   their true outline under blur) and within ``DISTANCE_THRESHOLD`` of it.
2. Objects: connected components of each colour (scipy.ndimage.label);
   components under ``MIN_PIXELS`` are noise and ignored.
3. Shape: the nearest prototype in three scale-free descriptors of the mask,
   bounding-box fill (square 1, circle pi/4, triangle and cross ~1/2), solidity
   (area / convex-hull area: cross ~0.7, the convex shapes >= 0.9) and the
   centroid's height in the box (2/3 down for an apex-up triangle, 1/2 for the
   rest). Using all three at once keeps shapes apart under blur, which erodes a
   small triangle's apex (its fill rises towards a circle's). Size: the
   bounding-box side against the midpoint of the two sizes.

The background is the image's per-channel median (objects cover well under half
of it), so a model whose grey drifts a little is still read correctly.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import ndimage
from skimage.morphology import convex_hull_image

from sdprune.scenes.world import COLOURS, IMAGE_SIZE, SHAPES, SIZES, ObjectSpec, parse_caption

DISTANCE_THRESHOLD = 70.0  # RGB units; palette colours are >= 160 apart, noise of sigma 8 is ~14
MIN_ALPHA = 0.5  # how far from background toward a colour a pixel must be to belong to an object
MIN_PIXELS = 8  # a small triangle covers ~60 pixels; specks below this are noise
# Descriptors (fill, solidity, centroid row) of clean renders; blur moves them by < 0.1.
_SHAPE_PROTOTYPES = {
    "circle": (0.79, 0.96, 0.5),
    "square": (1.0, 1.0, 0.5),
    "triangle": (0.52, 0.91, 0.66),  # apex up: the centroid sits two thirds of the way down
    "cross": (0.48, 0.71, 0.5),
}
_FEATURE_SCALE = np.array([0.1, 0.1, 0.05])  # how far each descriptor drifts under blur and noise
LARGE_SIDE = (SIZES["small"] + SIZES["large"]) / 2  # at 64 px; scaled with the image width

CRITERIA = ("count", "colours", "shapes", "attributes", "relation", "correct")
_ACCURACY_KEYS = {
    "correct": "prompt_accuracy", "count": "count_accuracy", "colours": "colour_accuracy",
    "shapes": "shape_accuracy", "attributes": "attribute_accuracy", "relation": "relation_accuracy",
}
_NAMES = list(COLOURS)
_PALETTE = np.array([COLOURS[n] for n in _NAMES], dtype=np.float64)  # (K, 3)
_PROTOTYPES = np.array([_SHAPE_PROTOTYPES[s] for s in SHAPES])  # (S, 3) rows in SHAPES order


@dataclass(frozen=True)
class DetectedObject:
    colour: str
    shape: str
    size: str
    centroid: tuple[float, float]  # (x, y) in pixels
    pixels: int


def _as_rgb(image) -> np.ndarray:
    """(H, W, 3) float64 in 0..255 from a uint8 array, a float array in 0..1, or a PIL image."""
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] < 3:
        raise ValueError(f"expected an (H, W, 3) image, got shape {array.shape}")
    rgb = array[..., :3].astype(np.float64)  # (H, W, 3); drops an alpha channel
    if np.issubdtype(array.dtype, np.floating) and rgb.max() <= 1.0:
        rgb = rgb * 255.0  # a float image in 0..1, as diffusers returns with output_type="np"
    return rgb


def colour_labels(image) -> np.ndarray:
    """(H, W) int: index into ``COLOURS`` of each pixel's colour, -1 for background or no palette colour."""
    rgb = _as_rgb(image)
    background = np.median(rgb.reshape(-1, 3), axis=0)  # (3,)
    offsets = rgb - background  # (H, W, 3)
    directions = _PALETTE - background  # (K, 3) background -> colour
    alpha = offsets @ directions.T / np.sum(directions**2, axis=1)  # (H, W, K) position along each segment
    alpha = np.clip(alpha, 0.0, 1.0)
    nearest = alpha[..., None] * directions  # (H, W, K, 3) nearest point of each segment
    distance = np.linalg.norm(offsets[..., None, :] - nearest, axis=-1)  # (H, W, K)
    best = np.argmin(distance, axis=-1)  # (H, W)
    best_alpha = np.take_along_axis(alpha, best[..., None], axis=-1)[..., 0]  # (H, W)
    best_distance = np.take_along_axis(distance, best[..., None], axis=-1)[..., 0]  # (H, W)
    return np.where((best_alpha >= MIN_ALPHA) & (best_distance <= DISTANCE_THRESHOLD), best, -1)


def shape_features(mask: np.ndarray) -> np.ndarray:
    """(3,) fill, solidity, height of the centroid: scale-free descriptors of one object's bool mask."""
    rows, cols = np.nonzero(mask)
    crop = mask[rows.min(): rows.max() + 1, cols.min(): cols.max() + 1]  # (h, w) bounding box
    area = float(crop.sum())
    fill = area / crop.size
    solidity = area / float(convex_hull_image(crop).sum())
    centroid_row = (rows.mean() - rows.min()) / max(1, np.ptp(rows))  # 0 top .. 1 bottom
    return np.array([fill, solidity, centroid_row])


def classify_shape(mask: np.ndarray) -> str:
    """The shape whose prototype descriptors are nearest to those of the (h, w) bool mask."""
    scaled = (_PROTOTYPES - shape_features(mask)) / _FEATURE_SCALE  # (S, 3)
    return SHAPES[int(np.argmin(np.sum(scaled**2, axis=1)))]


def detect_objects(image) -> list[DetectedObject]:
    """All objects in the image, sorted left to right by centroid."""
    labels = colour_labels(image)  # (H, W)
    large_side = LARGE_SIDE * labels.shape[1] / IMAGE_SIZE
    found = []
    for k, name in enumerate(_NAMES):
        components, _ = ndimage.label(labels == k)  # (H, W) int, 4-connected, 0 = not this colour
        for component, box in enumerate(ndimage.find_objects(components), start=1):
            own = components[box] == component  # (h, w): a box may also hold parts of a neighbour
            if own.sum() < MIN_PIXELS:
                continue
            rows, cols = np.nonzero(own)
            side = max(np.ptp(rows), np.ptp(cols)) + 1
            centroid = (float(cols.mean() + box[1].start), float(rows.mean() + box[0].start))
            size = "large" if side >= large_side else "small"
            found.append(DetectedObject(name, classify_shape(own), size, centroid, int(own.sum())))
    return sorted(found, key=lambda o: o.centroid[0])


def _matches(spec: ObjectSpec, obj: DetectedObject, with_size: bool) -> bool:
    same = spec.colour == obj.colour and spec.shape == obj.shape
    return same and (not with_size or spec.size is None or spec.size == obj.size)


def _all_found(requested: list[ObjectSpec], found: list[DetectedObject]) -> bool:
    """Every requested object has its own distinct match (colour, shape and, if asked, size)."""
    pool = list(found)
    for spec in requested:
        match = next((o for o in pool if _matches(spec, o, with_size=True)), None)
        if match is None:
            return False
        pool.remove(match)
    return True


def _in_order(requested: list[ObjectSpec], found: list[DetectedObject]) -> bool:
    """The requested (colour, shape)s occur among the found objects in the requested left-to-right order.

    Greedy leftmost matching is exact for subsequence matching: taking the leftmost
    candidate never leaves fewer candidates for the objects still to place.
    """
    if len(requested) < 2:
        return True
    position = 0
    for spec in requested:
        while position < len(found) and not _matches(spec, found[position], with_size=False):
            position += 1
        if position == len(found):
            return False
        position += 1
    return True


def evaluate(image, caption: str) -> dict[str, bool]:
    """Booleans per criterion (see ``CRITERIA``) for one image judged against its caption."""
    requested = parse_caption(caption)
    found = detect_objects(image)
    result = {
        "count": len(found) == len(requested),
        "colours": Counter(o.colour for o in found) == Counter(s.colour for s in requested),
        "shapes": Counter(o.shape for o in found) == Counter(s.shape for s in requested),
        "attributes": _all_found(requested, found),
        "relation": _in_order(requested, found),
    }
    result["correct"] = all(result.values())
    return result


def prompt_accuracy(images: Sequence, captions: Sequence[str]) -> dict[str, float]:
    """Mean of each criterion over (image, caption) pairs; ``prompt_accuracy`` is the all-correct rate."""
    if len(images) != len(captions) or not captions:
        raise ValueError(f"need as many images as captions, at least one; got {len(images)} and {len(captions)}")
    scores = [evaluate(image, text) for image, text in zip(images, captions)]
    return {key: float(np.mean([s[criterion] for s in scores])) for criterion, key in _ACCURACY_KEYS.items()}
