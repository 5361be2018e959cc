"""What made an artifact: the config subset, the code, the inputs, the machine.

Every workflow job writes a provenance record beside its outputs. `sdprune.cache`
gathers them when results are published and, on restore, adopts a cached artifact
only if its record still matches the current config and code.
"""

from __future__ import annotations

import functools
import hashlib
import platform
import socket
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import Mapping

from .io import write_json

PACKAGES = ("sdprune", "torch", "diffusers", "transformers", "open_clip_torch", "clean-fid", "numpy", "safetensors")
LIBRARY = Path(__file__).resolve().parent
WORKFLOW_ROOT = LIBRARY.parents[1]
HASH_CONTENT_UP_TO = 64 * 2**20  # larger files are identified by name and size only


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """`git describe` of the checkout the library runs from ('+dirty' if modified), else the package version."""
    try:
        out = subprocess.run(["git", "-C", str(WORKFLOW_ROOT), "describe", "--always", "--dirty=+dirty", "--abbrev=12"],
                             capture_output=True, text=True, timeout=10, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return _version("sdprune")


@functools.lru_cache(maxsize=8)
def library_fingerprint(library: Path = LIBRARY) -> str:
    """sha256 over a library tree's source files (their paths and contents)."""
    digest = hashlib.sha256()
    for path in sorted(library.rglob("*.py")):
        digest.update(str(path.relative_to(library)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def code_fingerprint(rule: str, workflow_root: str | Path = WORKFLOW_ROOT) -> str:
    """The code a rule's artifacts depend on: its script (scripts/<rule>.py) and the workflow's library
    (`src/sdprune` beside the workflow, which is what its jobs import)."""
    library = Path(workflow_root).resolve() / "src" / "sdprune"
    digest = hashlib.sha256(library_fingerprint(library if library.is_dir() else LIBRARY).encode())
    script = Path(workflow_root) / "scripts" / f"{rule}.py"
    if script.exists():
        digest.update(script.read_bytes())
    return digest.hexdigest()


def fingerprint(path: str | Path) -> str | None:
    """Content hash of a file (name and size only above 64 MiB), or of a folder's listing; None if absent."""
    path = Path(path)
    digest = hashlib.sha256()
    if path.is_dir():
        for item in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(f"{item.relative_to(path)}:{item.stat().st_size}\n".encode())
        return "dir:" + digest.hexdigest()
    if not path.is_file():
        return None
    if path.stat().st_size > HASH_CONTENT_UP_TO:
        return f"size:{path.name}:{path.stat().st_size}"
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


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


def job_record(*, rule: str, wildcards: Mapping[str, str], params, inputs: Mapping[str, object],
               outputs: Mapping[str, object], started: float, seed: int | None = None) -> dict:
    """One job's provenance: what it was asked (rule, wildcards, config subset), from what, by which code."""
    def paths(named: Mapping[str, object]) -> dict[str, list[str]]:
        return {k: [str(p) for p in (v if isinstance(v, (list, tuple)) else [v])] for k, v in named.items()}

    inputs = paths(inputs)
    return {
        "rule": rule,
        "wildcards": dict(wildcards),
        "params": params,
        "seed": seed,
        "code": code_fingerprint(rule),
        "inputs": {p: fingerprint(p) for group in inputs.values() for p in group},
        "outputs": sorted(p for group in paths(outputs).values() for p in group if not p.endswith(".provenance.json")),
        "seconds": time.time() - started,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "environment": environment_record(),
    }


def write_job_record(path: str | Path, **facts) -> dict:
    record = job_record(**facts)
    write_json(path, record)
    return record
