"""`make rehearse`: the DAG of `config.yaml`, end to end, offline, on a CPU, then checked.

1. Build the stand-in world (sdprune.rehearsal.sources), once per work folder.
2. Serve it on 127.0.0.1: a Hugging Face hub emulator (reached through `HF_ENDPOINT`, the variable
   huggingface_hub, diffusers, datasets and open_clip all read) and a static server for COCO and
   the FID networks (reached through the config's `coco_url` and `fid_weights_url`).
3. Copy the workflow into the work folder, scale `config.yaml` (sdprune.rehearsal.scale) and run
   `snakemake` there with an empty Hugging Face cache, so every download really happens.
4. Check what it wrote (sdprune.rehearsal.checks) and print the job count and wall time.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

log = logging.getLogger("sdprune.rehearsal")

WORKFLOW_PARTS = ("Snakefile", "config.yaml", "environment.yml", "rules", "scripts", "schemas", "config", "profiles",
                  "src", "data", "report")
CONFIG_NAME = "config/rehearsal.yaml"


def copy_workflow(repo: Path, dest: Path) -> Path:
    """The workflow's files (no results, caches or environments) in ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for part in WORKFLOW_PARTS:
        source = repo / part
        if source.is_dir():
            shutil.copytree(source, dest / part, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(source, dest / part)
    return dest


def write_rehearsal_config(repo: Path, workdir: Path, *, coco_url: str, manifest: dict, fid_url: str) -> Path:
    from sdprune.rehearsal.scale import scale_config

    config = yaml.safe_load((repo / "config.yaml").read_text())
    fid_urls = {protocol: f"{fid_url}/{path}" for protocol, path in manifest["fid_files"].items()}
    scaled = scale_config(config, coco_url=coco_url, coco_md5=manifest["coco_md5"], fid_weights_url=fid_urls)
    path = workdir / CONFIG_NAME
    path.write_text("# config.yaml at rehearsal scale (sdprune.rehearsal.scale); written by make rehearse\n"
                    + yaml.safe_dump(scaled, sort_keys=False))
    return path


def run_snakemake(workdir: Path, env: dict[str, str], cores: int, extra: list[str]) -> subprocess.CompletedProcess:
    # The workstation profile runs GPU stages one at a time (one GPU); on a CPU every core can take one.
    command = [sys.executable, "-m", "snakemake", "--cores", str(cores), "--resources", f"gpu={cores}",
               "--configfile", CONFIG_NAME, *extra]
    log.info("running %s in %s", " ".join(command), workdir)
    return subprocess.run(command, cwd=workdir, env=env, text=True, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT)


def rehearse(repo: Path, workdir: Path, *, cores: int = 2, fresh: bool = False, extra: list[str] = ()) -> int:
    from sdprune.workflow.validation import load_config
    from sdprune.rehearsal.checks import check_rehearsal, job_count
    from sdprune.rehearsal.hub import HubServer, hub_environment
    from sdprune.rehearsal.serve import StaticServer
    from sdprune.rehearsal.sources import build_world

    if fresh and (workdir / "run").exists():
        shutil.rmtree(workdir / "run")
    started = time.perf_counter()
    manifest = build_world(workdir / "world")
    built = time.perf_counter()
    run_dir = copy_workflow(repo, workdir / "run")
    with HubServer(workdir / "world" / "hub") as hub, StaticServer(workdir / "world" / "http") as files:
        write_rehearsal_config(repo, run_dir, coco_url=files.url, manifest=manifest, fid_url=files.url)
        env = {**os.environ, **hub_environment(hub.url, workdir / "hf-home")}
        result = run_snakemake(run_dir, env, cores, list(extra))
    (workdir / "snakemake.log").write_text(result.stdout)
    finished = time.perf_counter()
    if result.returncode != 0:
        print(result.stdout[-6000:])
        print(f"rehearsal FAILED: snakemake exited {result.returncode}; full log: {workdir / 'snakemake.log'}")
        return result.returncode
    config = load_config(run_dir / CONFIG_NAME, run_dir / "schemas" / "config.schema.yaml")  # with defaults
    problems = check_rehearsal(run_dir, workdir / "hf-home", config)
    print(f"stand-in world: {built - started:.0f} s; workflow: {job_count(result.stdout)} jobs in "
          f"{finished - built:.0f} s")
    for problem in problems:
        print(f"  - {problem}")
    print("rehearsal " + ("FAILED" if problems else "passed") + f"; outputs in {run_dir}")
    return 1 if problems else 0


def _log_requests_to(path: Path) -> None:
    """Every hub request goes to a file: the console shows the rehearsal, not hundreds of GETs."""
    hub_log = logging.getLogger("sdprune.rehearsal.hub")
    handler = logging.FileHandler(path, mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    hub_log.addHandler(handler)
    hub_log.propagate = False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sdprune.rehearsal", description=__doc__.split("\n")[0])
    parser.add_argument("--repo", type=Path, default=Path.cwd(), help="the workflow's folder (default: here)")
    parser.add_argument("--workdir", type=Path, default=Path(".rehearsal"), help="work folder (default: .rehearsal)")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--fresh", action="store_true", help="rerun every job (the stand-in world is kept)")
    parser.add_argument("snakemake_args", nargs="*", help="passed on to snakemake (after --)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    args.workdir.mkdir(parents=True, exist_ok=True)
    _log_requests_to(args.workdir / "hub-requests.log")
    return rehearse(args.repo.resolve(), args.workdir.resolve(), cores=args.cores, fresh=args.fresh,
                    extra=args.snakemake_args)
