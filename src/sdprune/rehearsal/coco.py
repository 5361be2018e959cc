"""Stand-in COCO 2017 archives in the official layout, for the rehearsal.

The official archives hold `annotations/captions_{train,val}2017.json` (inside
annotations_trainval2017.zip) and `train2017/<12-digit id>.jpg`, `val2017/...`
(train2017.zip, val2017.zip). The records here have the real fields; the images are
small seeded JPEGs of coloured shapes, and each image has five captions as in COCO.
Served over HTTP (sdprune.rehearsal.serve) to the project's unchanged download code.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from sdprune.download import md5sum
from sdprune.evaluation.prompts import COCO_ARCHIVES
from sdprune.io import atomic_path

COLOURS = {"red": (200, 40, 40), "green": (40, 160, 60), "blue": (40, 70, 200), "yellow": (220, 200, 40),
           "purple": (130, 50, 160), "orange": (240, 140, 30)}
SHAPES = ("circle", "square", "triangle")
SPLITS = {"train2017": 0, "val2017": 1}  # seed offset per split


def _caption_variants(colour: str, shape: str, place: str) -> list[str]:
    return [f"A {colour} {shape} on a grey background.", f"a {shape} coloured {colour}, {place}",
            f"A picture of a single {colour} {shape}.", f"There is a {colour} {shape} {place}.",
            f"{colour.capitalize()} {shape} drawn on a plain wall"]


def _draw(rng: np.random.RandomState, size: tuple[int, int]) -> tuple[Image.Image, str, str, str]:
    """One image of one shape, with what it shows (colour, shape, where)."""
    width, height = size
    colour, shape = rng.choice(list(COLOURS)), rng.choice(SHAPES)
    image = Image.new("RGB", size, tuple(int(v) for v in rng.randint(90, 170, 3)))
    draw = ImageDraw.Draw(image)
    r = int(rng.randint(height // 6, height // 3))
    cx, cy = int(rng.randint(r, width - r)), int(rng.randint(r, height - r))
    box = (cx - r, cy - r, cx + r, cy + r)
    if shape == "circle":
        draw.ellipse(box, fill=COLOURS[colour])
    elif shape == "square":
        draw.rectangle(box, fill=COLOURS[colour])
    else:
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=COLOURS[colour])
    place = "on the left" if cx < width / 2 else "on the right"
    return image, str(colour), str(shape), place


def split_records(split: str, num_images: int, seed: int = 0) -> tuple[dict, dict[str, bytes]]:
    """The captions JSON of one split and its JPEG files (name -> bytes)."""
    rng = np.random.RandomState(seed * 10 + SPLITS[split])
    images, annotations, files = [], [], {}
    for n in range(num_images):
        image_id = int(rng.randint(1, 600_000)) * 10 + SPLITS[split]  # sparse ids, unique per split
        size = (int(rng.choice([64, 80, 96])), int(rng.choice([48, 64, 72])))  # COCO images vary in shape
        image, colour, shape, place = _draw(rng, size)
        name = f"{image_id:012d}.jpg"
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=90)
        files[name] = buffer.getvalue()
        images.append({"license": 1, "file_name": name, "coco_url": f"http://images.cocodataset.org/{split}/{name}",
                       "height": size[1], "width": size[0], "date_captured": "2013-11-14 16:28:13",
                       "flickr_url": "http://farm1.staticflickr.com/stand-in.jpg", "id": image_id})
        for k, caption in enumerate(_caption_variants(colour, shape, place)):
            annotations.append({"image_id": image_id, "id": image_id * 10 + k, "caption": caption})
    order = rng.permutation(len(annotations))  # COCO's annotations are not grouped by image
    captions = {"info": {"description": "COCO 2017 Dataset (sdprune rehearsal stand-in)", "version": "1.0",
                         "year": 2017, "contributor": "COCO Consortium", "date_created": "2017/09/01"},
                "licenses": [{"url": "http://creativecommons.org/licenses/by-nc-sa/2.0/", "id": 1,
                              "name": "Attribution-NonCommercial-ShareAlike License"}],
                "images": images, "annotations": [annotations[i] for i in order]}
    return captions, files


def _write_zip(path: Path, members: dict[str, bytes]) -> None:
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(2017, 9, 1, 0, 0, 0)), data)


def build_coco_mirror(root: str | Path, *, num_train: int = 48, num_val: int = 16, seed: int = 0) -> dict[str, str]:
    """Write the three archives under ``root`` at the official paths; return their MD5s by archive name."""
    root = Path(root)
    annotations: dict[str, bytes] = {}
    for split, count in (("train2017", num_train), ("val2017", num_val)):
        captions, files = split_records(split, count, seed)
        annotations[f"annotations/captions_{split}.json"] = json.dumps(captions).encode()
        _write_zip(root / COCO_ARCHIVES[split][0], {f"{split}/{name}": data for name, data in files.items()})
    _write_zip(root / COCO_ARCHIVES["annotations"][0], annotations)
    return {name: md5sum(root / path) for name, (path, _, _) in COCO_ARCHIVES.items()}
