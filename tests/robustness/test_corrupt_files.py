"""Truncated and corrupted artifacts, statistics, reference features, images and JSON records:
each read ends in one `CorruptFileError` line naming the file and what is wrong, never in the
parser's own exception, and never in a silently different result."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from sdprune.evaluation.metrics.fid import folder_features
from sdprune.io import CorruptFileError, load_tensors, read_image, read_json, read_tensor_metadata, save_tensors, write_json
from sdprune.pruning.artifact import PruningArtifact, load_artifact, save_artifact
from tests.robustness.child import python_child


def _artifact(path):
    generator = torch.Generator().manual_seed(0)
    masks = {"blocks.0.proj": torch.rand(6, 10, generator=generator) > 0.5, "blocks.1.proj": torch.rand(4, 4, generator=generator) > 0.5}
    values = {"blocks.1.proj": torch.randn(int(masks["blocks.1.proj"].sum()), generator=generator)}
    save_artifact(path, PruningArtifact("unet", masks, values, "f" * 64))
    return load_artifact


def _statistics(path):
    save_tensors(path, {"down.0.attn.norms": torch.rand(16), "down.0.attn.rows": torch.tensor(40),
                        "down.0.attn.weight_sum": torch.tensor(12.5, dtype=torch.float64)}, {"record": '{"groups": 2}'})
    return load_tensors


def _reference_features(path):
    save_tensors(path, {"features": torch.randn(5, 8, dtype=torch.float64)})
    return load_tensors


SAFETENSORS_KINDS = {"artifact": _artifact, "statistics": _statistics, "reference features": _reference_features}


def _write_png(path, size=(12, 10)):
    pixels = np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format="PNG")
    return pixels


def _assert_one_line_naming(error: CorruptFileError, path, *words):
    message = str(error)
    assert "\n" not in message and message.startswith(f"{path}: ")
    assert all(word in message for word in words), message


def _flipped(data: bytes, position: int) -> bytes:
    return data[:position] + bytes([data[position] ^ 0xFF]) + data[position + 1:]


@pytest.mark.parametrize("kind", SAFETENSORS_KINDS)
@pytest.mark.parametrize("keep", [0, 5, 8, 40, -1], ids=["empty", "in-length", "after-length", "in-header", "last-byte-gone"])
def test_a_truncated_safetensors_file_is_named_with_what_is_wrong(tmp_path, kind, keep):
    path = tmp_path / "file.safetensors"
    reader = SAFETENSORS_KINDS[kind](path)
    data = path.read_bytes()
    path.write_bytes(data[:keep] if keep >= 0 else data[:-1])
    with pytest.raises(CorruptFileError) as caught:
        reader(path)
    _assert_one_line_naming(caught.value, path, "truncated", "safetensors")


@pytest.mark.parametrize("kind", SAFETENSORS_KINDS)
def test_every_flipped_byte_of_a_safetensors_file_is_an_error(tmp_path, kind):
    """Header, metadata and tensor data alike: the digest written with the file covers what the
    parser's own checks cannot (a flipped bit in a weight or a mask is still a valid file)."""
    path = tmp_path / "file.safetensors"
    reader = SAFETENSORS_KINDS[kind](path)
    data = path.read_bytes()
    for position in range(len(data)):
        path.write_bytes(_flipped(data, position))
        with pytest.raises(CorruptFileError) as caught:
            reader(path)
        _assert_one_line_naming(caught.value, path)


def test_an_artifact_whose_mask_does_not_fit_its_shape_is_refused(tmp_path):
    """A consistent file (valid digest) that still cannot be the artifact it claims to be."""
    path = tmp_path / "a.safetensors"
    save_tensors(path, {"l.mask": torch.zeros(3, dtype=torch.uint8)},
                 {"format": "sdprune-artifact/1", "component": "unet", "shapes": json.dumps({"l": [8, 8]})})
    with pytest.raises(CorruptFileError) as caught:
        load_artifact(path)
    _assert_one_line_naming(caught.value, path, "l: packed mask of 3 bytes", "8 bytes expected")


def test_kept_values_must_match_the_kept_weights(tmp_path):
    path = tmp_path / "a.safetensors"
    save_tensors(path, {"l.mask": torch.tensor([0b11110000], dtype=torch.uint8), "l.values": torch.ones(3)},
                 {"format": "sdprune-artifact/1", "component": "unet", "shapes": json.dumps({"l": [2, 4]})})
    with pytest.raises(CorruptFileError) as caught:
        load_artifact(path)
    _assert_one_line_naming(caught.value, path, "3 kept values for 4 kept weights")


def test_a_file_that_is_no_artifact_is_named(tmp_path):
    path = tmp_path / "stats.safetensors"
    _statistics(path)
    with pytest.raises(CorruptFileError) as caught:
        load_artifact(path)
    _assert_one_line_naming(caught.value, path, "not an sdprune artifact")


def test_metadata_reads_without_the_digest(tmp_path):
    path = tmp_path / "s.safetensors"
    _statistics(path)
    assert read_tensor_metadata(path) == {"record": '{"groups": 2}'}


@pytest.mark.parametrize("keep", [0, 8, 40, -12], ids=["empty", "signature-only", "in-data", "end-cut"])
def test_a_truncated_image_is_named(tmp_path, keep):
    path = tmp_path / "000000.png"
    _write_png(path)
    path.write_bytes(path.read_bytes()[:keep])
    with pytest.raises(CorruptFileError) as caught:
        read_image(path)
    _assert_one_line_naming(caught.value, path, "unreadable image")


def test_every_flipped_byte_of_a_png_is_an_error_or_changes_nothing(tmp_path):
    path = tmp_path / "000000.png"
    pixels = _write_png(path)
    data = path.read_bytes()
    errors = 0
    for position in range(len(data)):
        path.write_bytes(_flipped(data, position))
        try:
            decoded = np.asarray(read_image(path).convert("RGB"))
        except CorruptFileError as error:
            _assert_one_line_naming(error, path, "unreadable image")
            errors += 1
        else:
            assert np.array_equal(decoded, pixels), f"flipping byte {position} changed the pixels in silence"
    assert errors > 0.9 * len(data)


def test_fid_names_the_broken_image_before_clean_fid_reads_the_folder(tmp_path):
    for i in range(3):
        _write_png(tmp_path / f"{i:06d}.png")
    broken = tmp_path / "000001.png"
    broken.write_bytes(broken.read_bytes()[:-30])
    with pytest.raises(CorruptFileError) as caught:
        folder_features(tmp_path, lambda images: images.flatten(1), protocol="clean")
    _assert_one_line_naming(caught.value, broken)


def test_paired_metrics_refuse_an_image_of_another_size(tmp_path):
    from sdprune.evaluation.metrics.paired import paired_metrics

    _write_png(tmp_path / "pruned.png", size=(12, 10))
    _write_png(tmp_path / "dense.png", size=(12, 12))
    with pytest.raises(CorruptFileError) as caught:
        paired_metrics([tmp_path / "pruned.png"], [tmp_path / "dense.png"], clip_scorer=None)
    _assert_one_line_naming(caught.value, tmp_path / "pruned.png", "(12, 10)", "dense twin")


@pytest.mark.parametrize("damage", ["empty", "truncated", "flipped"])
def test_a_broken_json_record_is_named(tmp_path, damage):
    path = tmp_path / "scores.json"
    write_json(path, {"fid": 12.5, "clip_score": 0.31})
    data = path.read_bytes()
    path.write_bytes({"empty": b"", "truncated": data[: len(data) // 2], "flipped": _flipped(data, 5)}[damage])
    with pytest.raises(CorruptFileError) as caught:
        read_json(path)
    _assert_one_line_naming(caught.value, path, "JSON")


JOB = r'''
import sys
from types import SimpleNamespace
from sdprune.io import load_tensors
from sdprune.workflow.jobs import snakemake_job

job = SimpleNamespace(log=[sys.argv[1]], threads=1, rule="prune", output={})
with snakemake_job(job):
    load_tensors(sys.argv[2])
'''


def test_a_job_reading_a_corrupt_file_ends_on_one_line_naming_it(tmp_path):
    """What a Snakemake job prints: the rule, the file, what is wrong; the traceback goes to its log."""
    path = tmp_path / "artifact.safetensors"
    _artifact(path)
    path.write_bytes(path.read_bytes()[:-10])  # into the tensor data, after the header
    result = python_child(JOB, str(tmp_path / "job.log"), str(path))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"prune: {path}: truncated safetensors file (its header describes "
                                                  f"{path.stat().st_size + 10} bytes, file has {path.stat().st_size})"]
    assert "Traceback" in (tmp_path / "job.log").read_text()
