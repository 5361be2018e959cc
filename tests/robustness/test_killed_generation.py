"""A generation killed with SIGKILL mid-way and run again completes, with every image
byte-identical to an uninterrupted run's (each run in its own process, as a rerun job would be)."""

from __future__ import annotations

import json
import signal
from dataclasses import asdict
from pathlib import Path

from sdprune.evaluation.generation import GenerationSettings, generate_images, partial_dir
from tests.robustness.child import python_child

SETTINGS = GenerationSettings(num_steps=2, batch_size=2, seed=11)
PROMPTS = ["A dog in a field", "A treehouse at night", "An ocean sunset", "The Eiffel Tower", "A red bus", "A bowl of soup"]

# Generates the prompts argv[5:] into argv[2] with the settings argv[4]; with argv[3] = k it SIGKILLs
# itself once k batches are on disk: no Python cleanup runs, as when the OOM killer ends a job.
CHILD = r'''
import json, os, signal, sys
from sdprune.evaluation.generation import GenerationSettings, generate_images
from sdprune.models.loading import load_pipeline

model_dir, out, kill_after = sys.argv[1], sys.argv[2], int(sys.argv[3])
done = []


def maybe_die(last_index):
    done.append(last_index)
    if len(done) == kill_after:
        os.kill(os.getpid(), signal.SIGKILL)


settings = GenerationSettings(**json.loads(sys.argv[4]))
generate_images(load_pipeline(model_dir), sys.argv[5:], out, settings, on_batch_done=maybe_die)
'''


def generate(model_dir: Path, out: Path, kill_after: int = 0) -> int:
    result = python_child(CHILD, str(model_dir), str(out), str(kill_after), json.dumps(asdict(SETTINGS)), *PROMPTS)
    assert result.returncode in (0, -signal.SIGKILL), result.stderr[-3000:]
    return result.returncode


def test_a_killed_generation_resumes_to_the_same_bytes(tiny_model_dir, tiny_pipe, tmp_path):
    straight, resumed = tmp_path / "straight" / "images", tmp_path / "resumed" / "images"
    generate_images(tiny_pipe, PROMPTS, straight, SETTINGS)  # here, uninterrupted; the others in child processes

    assert generate(tiny_model_dir, resumed, kill_after=2) == -signal.SIGKILL
    assert not resumed.exists()  # nothing under the final name
    assert sorted(p.name for p in partial_dir(resumed).iterdir()) == [f"{i:06d}.png" for i in range(4)]

    assert generate(tiny_model_dir, resumed) == 0
    assert not partial_dir(resumed).exists()
    images = sorted(p.name for p in straight.glob("*.png"))
    assert images == [f"{i:06d}.png" for i in range(len(PROMPTS))]
    assert sorted(p.name for p in resumed.iterdir()) == sorted(p.name for p in straight.iterdir())
    for name in images:
        assert (resumed / name).read_bytes() == (straight / name).read_bytes(), name
