import hashlib
import json
import zipfile

import numpy as np
import pytest

from sdprune.download import download
from sdprune.evaluation.prompts import PromptRecord, coco_caption_pairs, extract_images, read_prompt_file, sample_coco


@pytest.fixture
def captions():
    """A COCO-format captions file: 30 images, 3 captions each, annotations in shuffled order."""
    rng = np.random.default_rng(0)
    images = [{"id": 1000 + i, "file_name": f"{1000 + i:012d}.jpg"} for i in range(30)]
    annotations = [{"id": 10 * i + k, "image_id": 1000 + i, "caption": f" caption {k} of image {i} "}
                   for i in range(30) for k in range(3)]
    order = rng.permutation(len(annotations))
    return {"images": images, "annotations": [annotations[j] for j in order]}


def test_first_caption_in_file_order_per_image(captions):
    pairs = coco_caption_pairs(captions)
    assert len(pairs) == 30
    first_seen = {}
    for annotation in captions["annotations"]:
        first_seen.setdefault(annotation["image_id"], annotation["caption"].strip())
    assert [p[0] for p in pairs] == list(first_seen)  # images in order of first appearance
    assert all(caption == first_seen[image_id] for image_id, caption, _ in pairs)


def test_sample_is_the_papers_legacy_random_state_draw(captions):
    records = sample_coco(captions, num=10, seed=0)
    pairs = coco_caption_pairs(captions)
    indices = np.random.RandomState(0).choice(len(pairs), 10, replace=False)
    assert [r.image_id for r in records] == [pairs[k][0] for k in indices]
    assert [r.index for r in records] == list(range(10))
    assert records[0].file_name == pairs[indices[0]][2]


def test_calibration_sample_is_disjoint_from_evaluation(captions):
    evaluation = sample_coco(captions, num=20, seed=0)
    calibration = sample_coco(captions, num=10, seed=1, exclude=[r.image_id for r in evaluation])
    assert not {r.image_id for r in evaluation} & {r.image_id for r in calibration}
    with pytest.raises(ValueError, match="only 10 images"):
        sample_coco(captions, num=11, seed=1, exclude=[r.image_id for r in evaluation])


def test_download_verifies_the_md5(tmp_path):
    source = tmp_path / "archive.zip"
    source.write_bytes(b"pretend archive")
    md5 = hashlib.md5(b"pretend archive").hexdigest()
    got = download(source.as_uri(), tmp_path / "out" / "archive.zip", md5=md5)
    assert got.read_bytes() == b"pretend archive"
    with pytest.raises(IOError, match="does not match"):
        download(source.as_uri(), tmp_path / "bad" / "archive.zip", md5="0" * 32)
    assert not any((tmp_path / "bad").iterdir())  # nothing half-written that looks finished


def test_references_are_extracted_by_sample_index(tmp_path):
    archive = tmp_path / "val2017.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for name in ("a.jpg", "b.jpg", "c.jpg"):
            z.writestr(f"val2017/{name}", name.encode())
    records = [PromptRecord(0, "x", 1, "c.jpg"), PromptRecord(1, "y", 2, "a.jpg")]
    out = extract_images(archive, "val2017", records, tmp_path / "refs")
    assert sorted(p.name for p in out.iterdir()) == ["000000.jpg", "000001.jpg"]
    assert (out / "000000.jpg").read_bytes() == b"c.jpg"


def test_prompt_files_skip_comments_and_blank_lines(tmp_path):
    path = tmp_path / "p.txt"
    path.write_text("# header\nA dog\n\n  An ocean sunset  \n")
    assert read_prompt_file(path) == ["A dog", "An ocean sunset"]
    with pytest.raises(ValueError, match="has 2 prompts, 3 requested"):
        read_prompt_file(path, limit=3)


def test_prompts_from_a_dataset_take_its_first_rows(tmp_path, monkeypatch):
    from sdprune.evaluation.prompts import read_dataset_prompts

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    folder = tmp_path / "laion-like"
    folder.mkdir()
    rows = [{"id": i, "eng_caption": f"caption {i}" if i != 2 else "  "} for i in range(10)]
    (folder / "train.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    assert read_dataset_prompts(str(folder), field="eng_caption", num=4) == [
        "caption 0", "caption 1", "caption 3", "caption 4"]  # empty captions skipped, order kept
    with pytest.raises(KeyError, match="no field 'caption'"):
        read_dataset_prompts(str(folder), field="caption", num=2)
    with pytest.raises(ValueError, match="only 9 non-empty"):
        read_dataset_prompts(str(folder), field="eng_caption", num=20)
