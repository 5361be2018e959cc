"""Command line for pruning your own pipeline without Snakemake.

    python -m sdprune fetch stabilityai/stable-diffusion-2 --out models/sd2
    python -m sdprune prune --model models/sd2 --component text_encoder --method wanda \\
        --sparsity 0.5 --calibration-prompts prompts.txt --out artifacts/te-wanda-0.5
    python -m sdprune export artifacts/te-wanda-0.5 --out pipelines/sd2-te-wanda-0.5
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from sdprune.log import setup_logging

log = logging.getLogger("sdprune")


def _sparsity(text: str) -> float:
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"sparsity must be in [0, 1), got {text}")
    return value


def _model_dir(text: str) -> Path:
    path = Path(text)
    if not (path / "model_index.json").is_file():
        raise argparse.ArgumentTypeError(f"{text} is not a saved pipeline (no model_index.json); "
                                         "use `python -m sdprune fetch` first")
    return path


def build_parser() -> argparse.ArgumentParser:
    from sdprune.pruning.methods import available_methods
    from sdprune.models.components import COMPONENTS, LAYER_SCOPES

    parser = argparse.ArgumentParser(prog="python -m sdprune", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    fetch = commands.add_parser("fetch", help="save a pipeline (Hugging Face id, built-in tiny / sd2-random, "
                                             "or toy: trained here on the scene world, ~6 min on 2 cores)")
    fetch.add_argument("source")
    fetch.add_argument("--out", type=Path, required=True)
    fetch.add_argument("--revision")
    fetch.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    fetch.add_argument("--seed", type=int, default=0, help="weights seed of built-in models")

    prune = commands.add_parser("prune", help="prune one component; write artifact.safetensors + report.json")
    prune.add_argument("--model", type=_model_dir, required=True, help="a saved pipeline folder")
    prune.add_argument("--component", choices=COMPONENTS, required=True)
    prune.add_argument("--method", choices=available_methods(), required=True)
    prune.add_argument("--sparsity", type=_sparsity, required=True)
    prune.add_argument("--pattern", default="unstructured", help="'unstructured' or N:M, e.g. 2:4")
    prune.add_argument("--layers", choices=LAYER_SCOPES,
                       help="layer scope (default: the method's own, obs_diff: transformer; else linear)")
    prune.add_argument("--calibration-prompts", type=Path, help="text file, one prompt per line")
    prune.add_argument("--num-prompts", type=int, default=128)
    prune.add_argument("--device", default="auto")
    prune.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    prune.add_argument("--seed", type=int, default=0)
    prune.add_argument("--out", type=Path, required=True, help="artifact folder")

    publish = commands.add_parser("publish", help="track a finished run's artifacts with DVC and push them")
    publish.add_argument("--configfile", default="config.yaml")
    publish.add_argument("--commit", action="store_true", help="also git-commit the .dvc files and provenance")
    publish.add_argument("--no-push", action="store_true", help="track only; push later with `dvc push`")

    restore = commands.add_parser("restore", help="pull cached artifacts that match the current config and code")
    restore.add_argument("--configfile", default="config.yaml")
    restore.add_argument("--only", choices=["all", "scores"], default="all",
                         help="scores: what tables and figures need, no checkpoints or image sets")

    export = commands.add_parser("export", help="write a standalone pruned pipeline")
    export.add_argument("artifacts", nargs="+", type=Path, help="artifact folder(s), one per component")
    export.add_argument("--model", type=_model_dir, help="base pipeline (default: the one in report.json)")
    export.add_argument("--out", type=Path, required=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()

    if args.command == "fetch":
        from sdprune.models.loading import fetch_pipeline

        fetch_pipeline(args.source, args.out, revision=args.revision, dtype=args.dtype, seed=args.seed)
    elif args.command == "prune":
        from sdprune.evaluation.prompts import read_prompt_file
        from sdprune.pruning.calibration import CalibrationSettings
        from sdprune.pruning.spec import PruneSpec
        from sdprune.workflow.stages.prune import prune

        from sdprune.pruning.methods import parse_method

        try:
            method = parse_method(args.method).method
            spec = PruneSpec(args.method, args.pattern, args.sparsity, args.layers or method.default_scope or "linear")
        except ValueError as error:
            sys.exit(f"error: {error}")
        calibration = method.calibration_for(args.component, CalibrationSettings(seed=args.seed))
        prompts: list[str] = []
        if spec.choice.statistics:
            if not args.calibration_prompts:
                sys.exit(f"error: {args.method} needs --calibration-prompts")
            prompts = read_prompt_file(args.calibration_prompts)[: args.num_prompts]
        report = prune(
            model_dir=args.model, component=args.component, spec=spec,
            calibration=calibration, prompts=prompts,
            out_dir=args.out, device=args.device, dtype=args.dtype,
        )
        log.info("realised sparsity %.4f; artifact in %s", report["realised_sparsity"], args.out)
    elif args.command in ("publish", "restore"):
        return _cache_command(args)
    else:
        from sdprune.workflow.stages.export import export

        export(artifact_dirs=args.artifacts, out_dir=args.out, model_dir=args.model)
        log.info("pruned pipeline written to %s", args.out)
    return 0


def _cache_command(args) -> int:
    """publish / restore, run from the workflow's root folder."""
    from sdprune.workflow import store as cache
    from sdprune.workflow.validation import load_config

    workdir = Path.cwd()
    try:
        config = load_config(args.configfile, workdir / "schemas" / "config.schema.yaml")
    except ValueError as error:
        sys.exit(f"error: {error}")
    if args.command == "publish":
        try:
            summary = cache.publish(workdir=workdir, configfile=args.configfile, model=config["model"]["name"],
                                    commit=args.commit, push=not args.no_push)
        except cache.PublishRefused as error:
            sys.exit(f"error: {error}")
        log.info("published %d artifacts (%d job records, %.1f MB)", summary["artifacts"], summary["records"],
                 summary["bytes"] / 2**20)
        return 0
    report = cache.restore(workdir=workdir, configfile=args.configfile, config=config, only=args.only)
    log.info("adopted %d job records, pulled %d artifacts, %d not adopted (they will rerun)",
             len(report.adopted), len(report.pulled), len(report.rejected))
    for key, reason in sorted(report.rejected.items()):
        print(f"not adopted: {key}: {reason}")
    return 0
