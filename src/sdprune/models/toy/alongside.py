"""The toy autoencoder, trained in a second process while the denoiser starts.

The two training stages share only the renders: the denoiser learns on layout latents, which
need no encoder. A step of these small models gains 1.5x, not 2x, from a second thread, so on
two cores one thread per stage side by side, then both threads for the denoiser alone, beats two
threads per stage in turn. The denoiser's thread count changes at a fixed step
(`ToyTraining.overlap_steps`), never at whatever moment the autoencoder happens to finish, so the
weights stay the same from run to run.

The child is a fresh interpreter running this module (`multiprocessing` would re-run the
caller's main script, a Snakemake job's, in it). It builds its own copy of the seeded pipeline
and renders, logs to the parent's stderr (a job's log file), and hands its weights back as a
safetensors file.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import torch

from sdprune.io import load_tensors, save_tensors

log = logging.getLogger(__name__)


class AutoencoderProcess:
    """A running autoencoder training; `join_into` waits for it and loads its weights."""

    def __init__(self, process: subprocess.Popen, weights: Path):
        self._process, self._weights = process, weights

    def join_into(self, vae: torch.nn.Module) -> None:
        code = self._process.wait()
        if code != 0:
            raise RuntimeError(f"training the toy autoencoder failed (exit code {code}); its error is in the log above")
        vae.load_state_dict(load_tensors(self._weights))
        vae.eval()

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            self._process.wait()


@contextlib.contextmanager
def autoencoder_alongside(seed: int, recipe) -> Iterator[AutoencoderProcess]:
    """Start training the autoencoder of ``build_pipeline("toy", seed)`` in a child process (one thread)."""
    with tempfile.TemporaryDirectory(prefix="sdprune-toy-vae-") as folder:
        weights = Path(folder) / "vae.safetensors"
        command = [sys.executable, "-m", __name__, "--seed", str(seed), "--recipe", json.dumps(recipe.as_dict()),
                   "--out", str(weights)]
        handle = AutoencoderProcess(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=_stderr()), weights)
        try:
            yield handle
        finally:
            handle.stop()


def _stderr():
    """Where the child writes its log: this process's stderr as it stands (a job's log file), if it is a file."""
    try:
        sys.stderr.flush()
        sys.stderr.fileno()
        return sys.stderr
    except (AttributeError, io.UnsupportedOperation, ValueError):  # e.g. captured by pytest: inherit fd 2
        return None


def _main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train the toy autoencoder alone (sdprune.models.toy.training).")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--recipe", required=True, help="ToyTraining fields as JSON")
    parser.add_argument("--out", required=True, help="safetensors file for the trained autoencoder's weights")
    args = parser.parse_args(argv)
    from sdprune.log import setup_logging
    from sdprune.models.build import build_pipeline
    from sdprune.models.toy.training import ToyTraining, autoencoder_seed, make_data, train_autoencoder

    setup_logging()
    torch.set_num_threads(1)
    recipe = ToyTraining(**json.loads(args.recipe))
    pipe = build_pipeline("toy", seed=args.seed)
    data = make_data(pipe.tokenizer, recipe.num_scenes, args.seed)
    generator = torch.Generator().manual_seed(autoencoder_seed(args.seed))
    train_autoencoder(pipe.vae, data, recipe, generator, progress=False)
    save_tensors(args.out, pipe.vae.state_dict())


if __name__ == "__main__":
    _main()
