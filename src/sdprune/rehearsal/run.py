"""`make rehearse`: the DAGs of `config.yaml` and of the OBS-Diff preset, end to end, offline, on a CPU, checked.

1. Build the stand-in world (sdprune.rehearsal.sources), once per work folder. Its ImageReward checkpoint
   is built in ImageReward's own environment (``--image-reward-python``; `make venv-image-reward`).
2. Serve it on 127.0.0.1: a Hugging Face hub emulator (reached through `HF_ENDPOINT`, the variable
   huggingface_hub, diffusers, datasets and open_clip all read) and a static server for COCO and
   the FID networks (reached through the config's `coco_url` and `fid_weights_url`).
3. Copy the workflow into the work folder; for each preset (`PRESETS`), scale it (sdprune.rehearsal.scale)
   and run `snakemake` there with an empty Hugging Face cache, so every download really happens (the
   presets share the folder: the second reuses the metric networks the first downloaded).
4. Check what each wrote (sdprune.rehearsal.checks) and print its job count and wall time.
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

WORKFLOW_PARTS = ("Snakefile", "config.yaml", "environment.yml", "envs", "rules", "scripts", "schemas", "config",
                  "profiles", "src", "data", "report")
# preset -> its scaled copy in the run folder; run in this order.
PRESETS = {"config.yaml": "config/rehearsal.yaml", "config/obs-diff-sd21base.yaml": "config/rehearsal-obs-diff-sd21base.yaml"}
CONFIG_NAME = PRESETS["config.yaml"]


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


def write_rehearsal_config(repo: Path, workdir: Path, *, preset: str = "config.yaml", coco_url: str, manifest: dict,
                           fid_url: str, image_reward_python: str | None = None) -> Path:
    from sdprune.rehearsal.scale import scale_config

    config = yaml.safe_load((repo / preset).read_text())
    fid_urls = {protocol: f"{fid_url}/{path}" for protocol, path in manifest["fid_files"].items()}
    scaled = scale_config(config, coco_url=coco_url, coco_md5=manifest["coco_md5"], fid_weights_url=fid_urls,
                          image_reward_python=image_reward_python)
    path = workdir / PRESETS[preset]
    path.write_text(f"# {preset} at rehearsal scale (sdprune.rehearsal.scale); written by make rehearse\n"
                    + yaml.safe_dump(scaled, sort_keys=False))
    return path


def run_snakemake(workdir: Path, env: dict[str, str], cores: int, extra: list[str],
                  config_name: str = CONFIG_NAME) -> subprocess.CompletedProcess:
    # The workstation profile runs GPU stages one at a time (one GPU); on a CPU every core can take one.
    command = [sys.executable, "-m", "snakemake", "--cores", str(cores), "--resources", f"gpu={cores}",
               "--configfile", config_name, *extra]
    log.info("running %s in %s", " ".join(command), workdir)
    return subprocess.run(command, cwd=workdir, env=env, text=True, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT)


def rehearse(repo: Path, workdir: Path, *, cores: int = 2, fresh: bool = False, extra: list[str] = (),
             image_reward_python: str | Path | None = None, presets: list[str] | None = None) -> int:
    from sdprune.rehearsal.hub import HubServer, hub_environment
    from sdprune.rehearsal.serve import StaticServer
    from sdprune.rehearsal.sources import build_world, check_image_reward_python

    try:  # before anything runs: the world's ImageReward checkpoint and the preset's scoring need it
        python = str(check_image_reward_python(image_reward_python).absolute())
    except RuntimeError as error:
        print(f"rehearsal FAILED: {error}")
        return 2
    if fresh and (workdir / "run").exists():
        shutil.rmtree(workdir / "run")
    started = time.perf_counter()
    manifest = build_world(workdir / "world", image_reward_python=python)
    print(f"stand-in world: {time.perf_counter() - started:.0f} s")
    run_dir = copy_workflow(repo, workdir / "run")
    failed = 0
    with HubServer(workdir / "world" / "hub") as hub, StaticServer(workdir / "world" / "http") as files:
        env = {**os.environ, **hub_environment(hub.url, workdir / "hf-home")}
        for preset in presets or list(PRESETS):
            write_rehearsal_config(repo, run_dir, preset=preset, coco_url=files.url, manifest=manifest,
                                   fid_url=files.url, image_reward_python=python)
            failed += rehearse_preset(preset, run_dir, workdir, env, cores, list(extra))
    print("rehearsal " + ("FAILED" if failed else "passed") + f"; outputs in {run_dir}")
    return 1 if failed else 0


def rehearse_preset(preset: str, run_dir: Path, workdir: Path, env: dict[str, str], cores: int,
                    extra: list[str]) -> int:
    """Run one scaled preset and check it: 0 if it passed, else 1 (what failed is printed)."""
    from sdprune.rehearsal.checks import check_rehearsal, job_count
    from sdprune.workflow.validation import load_config

    started = time.perf_counter()
    result = run_snakemake(run_dir, env, cores, extra, PRESETS[preset])
    log_path = workdir / f"snakemake-{Path(preset).stem}.log"
    log_path.write_text(result.stdout)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        print(result.stdout[-6000:])
        print(f"{preset}: snakemake exited {result.returncode}; full log: {log_path}")
        return 1
    config = load_config(run_dir / PRESETS[preset], run_dir / "schemas" / "config.schema.yaml")  # with defaults
    problems = check_rehearsal(run_dir, workdir / "hf-home", config)
    print(f"{preset}: {job_count(result.stdout)} jobs in {seconds:.0f} s; "
          + ("checks passed" if not problems else f"{len(problems)} checks failed:"))
    for problem in problems:
        print(f"  - {problem}")
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
    parser.add_argument("--image-reward-python", type=Path, default=None,
                        help="the Python of ImageReward's environment (made by `make venv-image-reward`: "
                             ".venv-image-reward/bin/python); required")
    parser.add_argument("--preset", action="append", choices=list(PRESETS),
                        help="rehearse only this preset (repeatable; default: every one)")
    parser.add_argument("snakemake_args", nargs="*", help="passed on to snakemake (after --)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    args.workdir.mkdir(parents=True, exist_ok=True)
    _log_requests_to(args.workdir / "hub-requests.log")
    return rehearse(args.repo.resolve(), args.workdir.resolve(), cores=args.cores, fresh=args.fresh,
                    extra=args.snakemake_args, image_reward_python=args.image_reward_python, presets=args.preset)
