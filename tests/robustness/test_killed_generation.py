"""A generation killed with SIGKILL mid-way and run again completes, with every image
byte-identical to an uninterrupted run's (each run in its own process, as a rerun job would be)."""

from __future__ import annotations

import json
import signal
from dataclasses import asdict
from pathlib import Path

import pytest

from sdprune.evaluation.generation import GenerationSettings, generate_images, partial_dir
from tests.robustness.child import python_child

SETTINGS = GenerationSettings(num_steps=2, batch_size=2, seed=11)
PROMPTS = ["A dog in a field", "A treehouse at night", "An ocean sunset", "The Eiffel Tower", "A red bus", "A bowl of soup"]

# Generates the prompts argv[5:] into argv[2] with the settings argv[4], and SIGKILLs itself (no Python
# cleanup runs, as when the OOM killer ends a job) at the point argv[3] names: "after-batch-2", once two
# batches are on disk, or "mid-write-5", with the fifth image written to its temporary name, not yet renamed.
CHILD = r'''
import contextlib, json, os, signal, sys
import sdprune.evaluation.generation as generation
from sdprune.models.loading import load_pipeline

model_dir, out, kill_at = sys.argv[1], sys.argv[2], sys.argv[3]
batches, images = [], []
rename_into_place = generation.atomic_path


def die_at(event, count):
    if kill_at == f"{event}-{count}":
        os.kill(os.getpid(), signal.SIGKILL)


@contextlib.contextmanager
def atomic_path(path, **kwargs):
    with rename_into_place(path, **kwargs) as tmp:
        yield tmp
        images.append(path)
        die_at("mid-write", len(images))


generation.atomic_path = atomic_path
settings = generation.GenerationSettings(**json.loads(sys.argv[4]))
generation.generate_images(load_pipeline(model_dir), sys.argv[5:], out, settings,
                           on_batch_done=lambda last: batches.append(last) or die_at("after-batch", len(batches)))
'''


def generate(model_dir: Path, out: Path, kill_at: str = "never") -> int:
    result = python_child(CHILD, str(model_dir), str(out), kill_at, json.dumps(asdict(SETTINGS)), *PROMPTS)
    assert result.returncode in (0, -signal.SIGKILL), result.stderr[-3000:]
    return result.returncode


# Killed inside the third batch, its first image on disk only under its temporary name: the harder case
# (a kill between batches, "after-batch-2", leaves the same finished images and no temporary).
@pytest.mark.parametrize(("kill_at", "left"), [("mid-write-5", 4)])
def test_a_killed_generation_resumes_to_the_same_bytes(tiny_model_dir, tiny_pipe, tmp_path, kill_at, left):
    straight, resumed = tmp_path / "straight" / "images", tmp_path / "resumed" / "images"
    generate_images(tiny_pipe, PROMPTS, straight, SETTINGS)  # here, uninterrupted; the others in child processes

    assert generate(tiny_model_dir, resumed, kill_at) == -signal.SIGKILL
    assert not resumed.exists()  # nothing under the final name
    assert sorted(p.name for p in partial_dir(resumed).glob("0*.png")) == [f"{i:06d}.png" for i in range(left)]

    assert generate(tiny_model_dir, resumed) == 0
    assert not partial_dir(resumed).exists()
    images = sorted(p.name for p in straight.glob("*.png"))
    assert images == [f"{i:06d}.png" for i in range(len(PROMPTS))]
    assert sorted(p.name for p in resumed.iterdir()) == sorted(p.name for p in straight.iterdir())  # no stray temporary
    for name in images:
        assert (resumed / name).read_bytes() == (straight / name).read_bytes(), name
