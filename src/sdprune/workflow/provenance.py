"""What made an artifact: the config subset, the code, the inputs, the machine.

Every workflow job writes a provenance record beside its outputs. `sdprune.workflow.store`
gathers them when results are published and, on restore, adopts a cached artifact
only if its record still matches the current config and code.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib
import platform
import socket
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import Iterable, Mapping

from sdprune.io import write_json

PACKAGES = ("sdprune", "torch", "diffusers", "transformers", "open_clip_torch", "clean-fid", "numpy", "safetensors")
LIBRARY = Path(__file__).resolve().parents[1]  # src/sdprune
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


def _imported_modules(source: Path, module: str) -> set[str]:
    """Names of the sdprune modules a file imports (anywhere in it, lazy imports included)."""
    package = module if source.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(source.read_text(), str(source))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}  # kept below only if a module
    return {name for name in found if name == "sdprune" or name.startswith("sdprune.")}


def _module_file(name: str, library: Path) -> Path | None:
    relative = Path(*name.split(".")[1:])
    for candidate in (library / relative / "__init__.py", (library / relative).with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def module_closure(modules: Iterable[str], library: Path) -> list[Path]:
    """The library files that importing ``modules`` runs: each module, its packages, what they import, transitively."""
    seen: dict[str, Path] = {}
    pending: list[tuple[Path, str]] = []

    def visit(name: str) -> None:
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__ too
            parent = ".".join(parts[:depth])
            path = _module_file(parent, library)
            if path is not None and parent not in seen:
                seen[parent] = path
                pending.append((path, parent))

    for name in modules:
        visit(name)
    while pending:
        path, module = pending.pop()
        for name in _imported_modules(path, module):
            visit(name)
    return sorted(set(seen.values()))


def runtime_modules(rule: str, wildcards: Mapping[str, str]) -> list[str]:
    """Modules a rule's job imports by name at run time, which no import statement shows:
    a prune's method, plan and statistics accumulator; calibration's norms accumulator."""
    if rule == "prune":
        # Imported by name: every job imports this module, and reading the registry here is no part
        # of what a generate or score job computes, so the import must not enter their fingerprints.
        methods = importlib.import_module("sdprune.pruning.methods")
        try:
            return methods.runtime_modules(wildcards["method"])
        except ValueError:  # a method this code no longer has: nothing made by it can match
            return [f"unknown method {wildcards['method']}"]
    if rule == "calibrate":
        return ["sdprune.pruning.calibration.norms"]  # counted only where the module exists
    return []


def code_fingerprint(rule: str, wildcards: Mapping[str, str] | None = None,
                     workflow_root: str | Path = WORKFLOW_ROOT) -> str:
    """The code a rule's artifacts depend on: its script (scripts/<rule>.py), the library modules the
    script imports, and those its job imports by name (`runtime_modules`: a prune's method), each with
    what it imports, transitively, from the workflow's `src/sdprune` (what its jobs import).

    A change to a module a job never runs (the tables, the cache, another pruning method) keeps
    that job's artifacts valid.
    """
    root = Path(workflow_root).resolve()
    library = root / "src" / "sdprune"
    library = library if library.is_dir() else LIBRARY
    digest = hashlib.sha256()
    script = root / "scripts" / f"{rule}.py"
    if script.exists():
        digest.update(script.read_bytes())
        runtime = runtime_modules(rule, wildcards or {})
        digest.update("\0".join(name for name in runtime if not name.startswith("sdprune.")).encode())
        for path in code_files(script, runtime, library):
            digest.update(str(path.relative_to(library)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def code_files(script: Path, runtime: Iterable[str], library: Path) -> list[Path]:
    """The library files a job of ``script`` runs, with the ``runtime`` modules it imports by name."""
    return module_closure([*_imported_modules(script, "__main__"), *runtime], library)


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
        "code": code_fingerprint(rule, wildcards),
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
