"""score_image_reward: ImageReward of each of a run's images for its prompt, in ImageReward's own environment.

`image-reward` cannot be installed beside the stack (envs/README.md). Under conda the job itself runs in
its environment and scores in-process; with pip, ``python`` names that environment's interpreter and the
scoring runs there, in a child process (`sdprune.evaluation.metrics.image_reward.main`).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from sdprune.evaluation.generation import image_name
from sdprune.io import read_json, write_json
from sdprune.models.loading import resolve_device
from sdprune.workflow.provenance import LIBRARY, environment_record

log = logging.getLogger(__name__)


def rewards_in_process(weights_dir: str | Path, files: Sequence[Path], prompts: Sequence[str], device) -> np.ndarray:
    if importlib.util.find_spec("ImageReward") is None:  # the main environment: a hint, not an import traceback
        raise RuntimeError(f"ImageReward is not installed for {sys.executable}: set scoring.image_reward_python "
                           "to its environment's interpreter (make venv-image-reward) or run Snakemake with "
                           "--software-deployment-method conda (envs/README.md)")
    from sdprune.evaluation.metrics.image_reward import image_rewards, load_image_reward

    return image_rewards(load_image_reward(weights_dir, device), files, prompts)


def rewards_in_interpreter(python: str, weights_dir: str | Path, files: Sequence[Path], prompts: Sequence[str],
                           device) -> np.ndarray:
    """The same scoring, run by another Python (ImageReward's environment) on this library."""
    with tempfile.TemporaryDirectory() as tmp:
        request, out = Path(tmp) / "request.json", Path(tmp) / "rewards.json"
        write_json(request, {"images": [str(f) for f in files], "prompts": list(prompts)})
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(LIBRARY.parent), os.getenv("PYTHONPATH")) if p)}
        command = [python, "-m", "sdprune.evaluation.metrics.image_reward", "--weights", str(weights_dir),
                   "--request", str(request), "--out", str(out), "--device", str(device)]
        log.info("scoring in %s", python)
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"ImageReward in {python} failed ({done.returncode}):\n{done.stderr[-4000:]}")
        return np.asarray(read_json(out)["image_reward"], dtype=np.float64)


def score_image_reward(*, images_dir: str | Path, prompts: Sequence[str], weights_dir: str | Path,
                       out_path: str | Path, device: str = "auto", python: str | None = None) -> dict:
    """Mean, spread and per-image ImageReward of a run's images (in prompt order) into ``out_path``."""
    started = time.perf_counter()
    device = resolve_device(device)
    files = [Path(images_dir) / image_name(i) for i in range(len(prompts))]
    if python is None:
        rewards = rewards_in_process(weights_dir, files, prompts, device)
    else:
        rewards = rewards_in_interpreter(python, weights_dir, files, prompts, device)
    record = {"image_reward": float(rewards.mean()), "image_reward_std": float(rewards.std()),
              "per_image": rewards.tolist(), "num_images": len(files), "interpreter": python or sys.executable,
              "seconds": time.perf_counter() - started, "environment": environment_record()}
    write_json(out_path, record)
    return record
