"""Logging for scripts and the command line: one log file per job."""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path
from typing import Iterator

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(log_file: str | Path | None = None, level: int = logging.INFO) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers = [logging.FileHandler(log_file, mode="a", encoding="utf-8")]
    logging.basicConfig(level=level, format=FORMAT, handlers=handlers, force=True)
    for noisy in ("urllib3", "PIL", "matplotlib", "filelock", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@contextlib.contextmanager
def job_logging(log_file: str | Path, *, threads: int | None = None) -> Iterator[logging.Logger]:
    """Send a job's log records, warnings and progress bars (stderr) to its log file.

    Exceptions are logged with their traceback before they propagate, so the log
    file says why a job failed.
    """
    Path(log_file).parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "a", encoding="utf-8", buffering=1) as stream, contextlib.redirect_stderr(stream):
        setup_logging(log_file)
        logging.captureWarnings(True)
        if threads:
            import torch

            torch.set_num_threads(threads)
        logger = logging.getLogger("sdprune.job")
        try:
            yield logger
        except BaseException:
            logger.exception("job failed")
            raise
