"""A write that fails half-way (the disk is full) leaves no file under the final name and no
temporary file beside it, for every atomic writer.

The failure is real, not mocked: a child process lowers its file-size limit (RLIMIT_FSIZE) so
the kernel refuses every write past a few bytes, as a full disk refuses them; the writers see
the OSError (EFBIG instead of ENOSPC) from inside Python, PIL and safetensors' Rust code alike.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.robustness.child import python_child

LIMIT = 4096  # bytes: every writer below writes more

CHILD = r'''
import errno, json, resource, signal, sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from sdprune.io import atomic_directory, atomic_path, save_tensors, write_json, write_text
from sdprune.pruning.artifact import PruningArtifact, save_artifact

out = Path(sys.argv[1])
noise = np.random.default_rng(0).integers(0, 256, (96, 96, 3), dtype=np.uint8)


def png(path):
    with atomic_path(path) as tmp:
        Image.fromarray(noise).save(tmp, format="PNG")


def folder(path):
    with atomic_directory(path) as tmp:
        (tmp / "a.bin").write_bytes(bytes(10_000))


WRITERS = {
    "text": lambda d: write_text(d / "notes.txt", "x" * 10_000),
    "json": lambda d: write_json(d / "scores.json", {"values": list(range(5_000))}),
    "tensors": lambda d: save_tensors(d / "stats.safetensors", {"a": torch.zeros(5_000)}, {"record": "{}"}),
    "artifact": lambda d: save_artifact(d / "artifact.safetensors",
                                        PruningArtifact("unet", {"l": torch.ones(300, 300, dtype=torch.bool)})),
    "png": lambda d: png(d / "000000.png"),
    "directory": lambda d: folder(d / "images"),
}
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing us
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[2]), resource.RLIM_INFINITY))
failures = {}
for name, write in WRITERS.items():
    (out / name).mkdir()
    try:
        write(out / name)
        failures[name] = None
    except OSError as error:
        failures[name] = errno.errorcode.get(error.errno, str(error.errno))
print(json.dumps(failures))
'''


@pytest.fixture(scope="module")
def failed_writes(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("full-disk")
    result = python_child(CHILD, str(out), str(LIMIT))
    assert result.returncode == 0, result.stderr[-3000:]
    return out, json.loads(result.stdout.splitlines()[-1])


WRITERS = ["text", "json", "tensors", "artifact", "png", "directory"]


@pytest.mark.parametrize("writer", WRITERS)
def test_a_failed_write_raises_and_leaves_nothing(failed_writes, writer):
    out, failures = failed_writes
    assert failures[writer] == "EFBIG", f"{writer}: the write did not fail ({failures[writer]})"
    assert sorted(p.name for p in (out / writer).iterdir()) == []  # neither the final name nor a temporary


def test_the_same_writers_succeed_without_the_limit(tmp_path):
    """The check above is not vacuous: without the limit each writer leaves exactly its file."""
    result = python_child(CHILD, str(tmp_path), str(1 << 40))
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.splitlines()[-1]) == dict.fromkeys(WRITERS)
    assert {w: sorted(p.name for p in (tmp_path / w).iterdir()) for w in WRITERS} == {
        "text": ["notes.txt"], "json": ["scores.json"], "tensors": ["stats.safetensors"],
        "artifact": ["artifact.safetensors"], "png": ["000000.png"], "directory": ["images"]}
