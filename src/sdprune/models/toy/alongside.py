"""The toy autoencoder, trained in a second process while the denoiser starts.

The two training stages share only the renders: the denoiser learns on layout latents, which
need no encoder. A step of these small models gains 1.5x, not 2x, from a second thread, so on
two cores one thread per stage side by side, then both threads for the denoiser alone, beats two
threads per stage in turn (about 280 s against 325 s for the default recipe). The denoiser's
thread count changes at a fixed step (`ToyTraining.overlap_steps`), never at whatever moment the
autoencoder happens to finish, so the weights stay the same from run to run.

The child process is spawned (a fork would inherit the parent's OpenMP state) and builds its own
copy of the seeded pipeline and renders; its log records reach the parent's handlers (the job's
log file) through a queue, and its weights come back as a safetensors file.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import multiprocessing
import tempfile
from pathlib import Path
from typing import Iterator

import torch

from sdprune.io import load_tensors, save_tensors

log = logging.getLogger(__name__)


class AutoencoderProcess:
    """A running autoencoder training; `join_into` waits for it and loads its weights."""

    def __init__(self, process, weights: Path):
        self._process, self._weights = process, weights

    def join_into(self, vae: torch.nn.Module) -> None:
        self._process.join()
        if self._process.exitcode != 0:
            raise RuntimeError(f"training the toy autoencoder failed (exit code {self._process.exitcode}); "
                               "its log records are above")
        vae.load_state_dict(load_tensors(self._weights))
        vae.eval()

    def stop(self) -> None:
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()


@contextlib.contextmanager
def autoencoder_alongside(seed: int, recipe) -> Iterator[AutoencoderProcess]:
    """Start training the autoencoder of ``build_pipeline("toy", seed)`` in a child process (one thread)."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    listener = logging.handlers.QueueListener(queue, _Forward())
    with tempfile.TemporaryDirectory(prefix="sdprune-toy-vae-") as folder:
        weights = Path(folder) / "vae.safetensors"
        process = context.Process(target=_train_autoencoder, args=(seed, recipe, weights, queue),
                                  name="toy-autoencoder", daemon=True)
        listener.start()
        process.start()
        handle = AutoencoderProcess(process, weights)
        try:
            yield handle
        finally:
            handle.stop()
            listener.stop()


class _Forward(logging.Handler):
    """Hands a child's record to the parent's logger of the same name (and so to the job's log file)."""

    def emit(self, record: logging.LogRecord) -> None:
        logging.getLogger(record.name).handle(record)


def _train_autoencoder(seed: int, recipe, weights: Path, queue) -> None:
    """The child: the same seeded pipeline and renders as the parent, the autoencoder stage alone."""
    root = logging.getLogger()
    root.handlers = [logging.handlers.QueueHandler(queue)]
    root.setLevel(logging.INFO)
    torch.set_num_threads(1)
    from sdprune.models.build import build_pipeline
    from sdprune.models.toy.training import autoencoder_seed, make_data, train_autoencoder

    pipe = build_pipeline("toy", seed=seed)
    data = make_data(pipe.tokenizer, recipe.num_scenes, seed)
    generator = torch.Generator().manual_seed(autoencoder_seed(seed))
    train_autoencoder(pipe.vae, data, recipe, generator, progress=False)
    save_tensors(weights, pipe.vae.state_dict())
