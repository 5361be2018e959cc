"""What made an artifact: code version, library versions, host and GPU.

Stored beside every artifact so a cached result can be checked against the
current code and config before it is reused.
"""

from __future__ import annotations

import functools
import platform
import socket
import subprocess
from importlib import metadata
from pathlib import Path

PACKAGES = ("sdprune", "torch", "diffusers", "transformers", "open_clip_torch", "clean-fid", "numpy", "safetensors")


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """`git describe` of the checkout the library runs from ('+dirty' if modified), else the package version."""
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", "-C", str(root), "describe", "--always", "--dirty=+dirty", "--abbrev=12"],
                             capture_output=True, text=True, timeout=10, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return _version("sdprune")


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def environment_record() -> dict:
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "code_version": code_version(),
        "packages": {name: _version(name) for name in PACKAGES},
        "python": platform.python_version(),
        "host": socket.gethostname(),
        "gpu": gpu,
    }
