"""The COCO stand-in mirror through the project's real download and sampling code."""

import http.client
import zipfile
from http.server import SimpleHTTPRequestHandler

import pytest

from sdprune.evaluation.prompts import extract_images, fetch_coco_archive, read_captions, sample_coco
from sdprune.rehearsal.coco import build_coco_mirror
from sdprune.rehearsal.serve import StaticServer


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    root = tmp_path_factory.mktemp("coco-mirror")
    return root, build_coco_mirror(root, num_train=12, num_val=4)


def test_archives_have_the_official_layout(mirror):
    root, md5 = mirror
    with zipfile.ZipFile(root / "annotations/annotations_trainval2017.zip") as archive:
        assert sorted(archive.namelist()) == ["annotations/captions_train2017.json", "annotations/captions_val2017.json"]
    with zipfile.ZipFile(root / "zips/train2017.zip") as archive:
        names = archive.namelist()
    assert len(names) == 12 and all(n.startswith("train2017/") and len(n.split("/")[1]) == len("000000000000.jpg")
                                    for n in names)
    assert set(md5) == {"annotations", "train2017", "val2017"}


def test_mirror_is_seeded(mirror, tmp_path):
    assert build_coco_mirror(tmp_path, num_train=12, num_val=4) == mirror[1]


def test_download_sample_and_extract_through_the_real_code(mirror, tmp_path):
    root, md5 = mirror
    with StaticServer(root) as server:
        annotations = fetch_coco_archive("annotations", tmp_path, base_url=server.url, md5=md5["annotations"])
        images = fetch_coco_archive("train2017", tmp_path, base_url=server.url, md5=md5["train2017"])
    captions = read_captions(annotations, "train2017")
    assert len(captions["annotations"]) == 5 * len(captions["images"]) == 60
    records = sample_coco(captions, num=5, seed=0)
    out = extract_images(images, "train2017", records, tmp_path / "references")
    assert sorted(p.name for p in out.iterdir()) == [f"{i:06d}.jpg" for i in range(5)]


def test_a_corrupted_download_is_refused_and_leaves_nothing(mirror, tmp_path):
    root, md5 = mirror
    with StaticServer(root) as server, pytest.raises(IOError, match="MD5"):
        fetch_coco_archive("val2017", tmp_path, base_url=server.url, md5=md5["train2017"])
    assert list(tmp_path.iterdir()) == []


class _Truncating(SimpleHTTPRequestHandler):
    """Announces the whole file, sends half of it, then closes the connection."""

    def do_GET(self):
        with open(self.translate_path(self.path), "rb") as handle:
            data = handle.read()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self.close_connection = True

    def log_message(self, *args):
        pass


def test_a_truncated_download_is_refused_and_leaves_nothing(mirror, tmp_path):
    root, md5 = mirror
    with StaticServer(root, handler=_Truncating) as server, pytest.raises((http.client.IncompleteRead, IOError)):
        fetch_coco_archive("val2017", tmp_path, base_url=server.url, md5=md5["val2017"])
    assert list(tmp_path.iterdir()) == []
