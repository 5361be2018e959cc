"""Workflow overhead: Snakemake's own time before any job, with nothing of ours running.

In a copy of this checkout's tracked files (so no .snakemake state lands here):

1. ``snakemake -n`` on config.yaml, the paper's grid (the DAG of every run, nothing executed);
2. ``snakemake --until prune`` on the tiny preset (cliff search off: its checkpoints would add
   jobs) once it has run that far: a run with nothing to do. The whole DAG is built and checked;
   ``--until`` keeps the setup run (done once, untimed) to its data, calibration and prune jobs,
   since generating and scoring its images takes over 20 minutes on a busy 2-core machine.

Each command is timed as a whole (start-up, config checks, DAG), ``--repeats`` times; the
median wall time is the figure, the children's CPU seconds show how much of it was ours
rather than waiting on a busy machine. Target: < 15 s each.

    python benchmarks/workflow_overhead.py               # ~5 min: most of it the tiny run set up once
    python benchmarks/workflow_overhead.py --workdir /tmp/overhead   # keeps the copy: set up only once
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

TARGET_SECONDS = 15.0
REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def copy_checkout(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    archive = subprocess.run(["tar", "--null", "-T", "-", "-cf", "-"], cwd=REPO, input=files,
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "xf", "-"], cwd=dest, input=archive, check=True)


def write_noop_config(workdir: Path) -> str:
    config = yaml.safe_load((workdir / "config/tiny.yaml").read_text())
    config["reporting"]["cliff"]["series"] = []
    (workdir / "config/bench-noop.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return "config/bench-noop.yaml"


def timed(command: list[str], workdir: Path) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of the command and its children, output)."""
    import time

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    out = subprocess.run(command, cwd=workdir, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(workdir / "src")})
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if out.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{out.stderr[-3000:]}")
    return wall, cpu, out.stdout + out.stderr


def measure(label: str, command: list[str], workdir: Path, repeats: int, expect: str) -> None:
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu, output = timed(command, workdir)
        if not re.search(expect, output):
            raise RuntimeError(f"{label}: expected {expect!r} in the output of {' '.join(command)}:\n{output[-3000:]}")
        walls.append(wall)
        cpus.append(cpu)
    median = statistics.median(walls)
    print(f"{label}: `{' '.join(['snakemake', *command[1:]])}`\n  wall: median {median:.1f} s "
          f"(runs: {', '.join(f'{w:.1f}' for w in walls)}); CPU: median {statistics.median(cpus):.1f} s; "
          f"target < {TARGET_SECONDS:g} s {'MET' if median < TARGET_SECONDS else 'MISSED'}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cores", type=int, default=2, help="for the tiny run set up once")
    parser.add_argument("--workdir", type=Path, help="the checkout's copy, kept (default: a temporary folder)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sdprune-overhead-") as tmp:
        workdir = args.workdir or Path(tmp)
        if not (workdir / "Snakefile").exists():
            workdir.mkdir(parents=True, exist_ok=True)
            copy_checkout(workdir)
        measure("dry run of the paper grid", [SNAKEMAKE, "-n", "--cores", "1"], workdir, args.repeats,
                expect="This was a dry-run")
        config = write_noop_config(workdir)
        noop = ["--configfile", config, "--until", "prune"]
        print(f"setting up: the tiny preset run through prune ({config}) ...", flush=True)
        timed([SNAKEMAKE, "--cores", str(args.cores), *noop], workdir)
        measure("run with nothing to do (tiny preset through prune, done)", [SNAKEMAKE, "--cores", "1", *noop],
                workdir, args.repeats, expect=r"Nothing to be done|total\s+0\n")


if __name__ == "__main__":
    main()
