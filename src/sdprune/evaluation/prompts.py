"""Prompt sets and reference images: text files and MS-COCO 2017.

COCO follows the paper's protocol: one caption per image (the first in file
order), images ordered by their first caption's position in the file, and
``numpy.random.RandomState(seed).choice(n_images, n, replace=False)`` picking the
sample; the same indices pick the reference images. Archives come from the
official source and are verified against their published MD5 before use.
"""

from __future__ import annotations

import json
import logging
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

from sdprune.download import download
from sdprune.io import atomic_directory, atomic_path

log = logging.getLogger(__name__)

COCO_URL = "http://images.cocodataset.org"
# Published MD5s of the official archives (name -> (path under COCO_URL, bytes, md5)).
COCO_ARCHIVES = {
    "annotations": ("annotations/annotations_trainval2017.zip", 252_907_541, "f4bbac642086de4f52a3fdda2de5fa2c"),
    "train2017": ("zips/train2017.zip", 19_336_861_798, "cced6f7f71b7629ddf16f17bbcfab6b2"),
    "val2017": ("zips/val2017.zip", 815_585_330, "442b8da7639aecaf257c1dceb8ba8c80"),
}


@dataclass(frozen=True)
class PromptRecord:
    index: int
    prompt: str
    image_id: int | None = None
    file_name: str | None = None


def read_prompt_file(path: str | Path, limit: int | None = None) -> list[str]:
    """One prompt per line; blank lines and lines starting with '#' are skipped."""
    lines = [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines()]
    prompts = [line for line in lines if line and not line.startswith("#")]
    if limit is not None:
        if limit > len(prompts):
            raise ValueError(f"{path} has {len(prompts)} prompts, {limit} requested")
        prompts = prompts[:limit]
    return prompts


def coco_caption_pairs(captions_json: dict) -> list[tuple[int, str, str]]:
    """(image_id, first caption, file_name) per image, in the order images first appear in the annotations."""
    files = {image["id"]: image["file_name"] for image in captions_json["images"]}
    first: dict[int, str] = {}
    for annotation in captions_json["annotations"]:
        first.setdefault(annotation["image_id"], annotation["caption"].strip())
    return [(image_id, caption, files[image_id]) for image_id, caption in first.items()]


def sample_coco(captions_json: dict, *, num: int, seed: int = 0, exclude: Sequence[int] = ()) -> list[PromptRecord]:
    """The paper's sample: legacy RandomState(seed).choice without replacement.

    ``exclude`` removes image ids first (calibration captions disjoint from evaluation ones).
    """
    pairs = coco_caption_pairs(captions_json)
    if exclude:
        excluded = set(exclude)
        pairs = [p for p in pairs if p[0] not in excluded]
    if num > len(pairs):
        raise ValueError(f"asked for {num} COCO captions, only {len(pairs)} images available")
    indices = np.random.RandomState(seed).choice(len(pairs), num, replace=False)
    return [PromptRecord(i, pairs[k][1], pairs[k][0], pairs[k][2]) for i, k in enumerate(indices)]


def fetch_coco_archive(name: str, out_dir: str | Path, *, base_url: str = COCO_URL, md5: str | None = None) -> Path:
    """Download one COCO 2017 archive from ``base_url`` (the official server or a mirror of its layout).

    ``md5`` replaces the published checksum, for a mirror whose archives differ from the official ones;
    the published size is then unknown too.
    """
    path, size, published_md5 = COCO_ARCHIVES[name]
    return download(f"{base_url.rstrip('/')}/{path}", Path(out_dir) / Path(path).name, md5=md5 or published_md5,
                    size=None if md5 else size)


def read_captions(annotations_zip: str | Path, split: str) -> dict:
    with zipfile.ZipFile(annotations_zip) as archive:
        return json.loads(archive.read(f"annotations/captions_{split}.json"))


def extract_images(images_zip: str | Path, split: str, records: Sequence[PromptRecord], out_dir: str | Path) -> Path:
    """Copy the sampled images out of the split's archive, named by sample index."""
    with atomic_directory(out_dir) as tmp, zipfile.ZipFile(images_zip) as archive:
        for record in tqdm(records, desc="extract references", unit="image"):
            suffix = Path(record.file_name).suffix
            with archive.open(f"{split}/{record.file_name}") as src, open(tmp / f"{record.index:06d}{suffix}", "wb") as dst:
                shutil.copyfileobj(src, dst)
    return Path(out_dir)


def write_prompt_records(path: str | Path, records: Sequence[PromptRecord]) -> None:
    from sdprune.io import write_json

    write_json(path, [record.__dict__ for record in records])


def read_prompt_records(path: str | Path) -> list[PromptRecord]:
    return [PromptRecord(**item) for item in json.loads(Path(path).read_text(encoding="utf-8"))]


def read_dataset_prompts(dataset: str, *, field: str, num: int, split: str = "train",
                         revision: str | None = None) -> list[str]:
    """The first ``num`` values of a Hugging Face dataset's text field, in dataset order.

    Streams, so only the rows needed are downloaded. ``dataset`` may also be a local
    dataset folder (e.g. JSON lines or parquet files), read through the same path.
    """
    from datasets import load_dataset

    rows = load_dataset(dataset, split=split, streaming=True, revision=revision)
    prompts = []
    for row in rows:
        if field not in row:
            raise KeyError(f"{dataset} has no field {field!r} (fields: {', '.join(row)})")
        text = str(row[field]).strip()
        if text:
            prompts.append(text)
        if len(prompts) == num:
            return prompts
    raise ValueError(f"{dataset} ({split}) has only {len(prompts)} non-empty {field!r} values, {num} requested")
