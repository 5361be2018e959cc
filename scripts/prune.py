"""Rule prune: prune one component; write the artifact and its report."""

from pathlib import Path

from sdprune.workflow import stages
from sdprune.evaluation.prompts import read_prompt_records
from sdprune.workflow.jobs import snakemake_job
from sdprune.pruning.masks import parse_pattern
from sdprune.pruning.prune import CalibrationSettings, PruneSettings

stage = snakemake.params.stage
with snakemake_job(snakemake):
    settings = dict(stage["settings"], pattern=parse_pattern(stage["settings"]["pattern"]))  # 2of4 -> 2:4
    prompts = []
    if "prompts" in snakemake.input.keys():
        prompts = [r.prompt for r in read_prompt_records(snakemake.input.prompts)][: stage["num_prompts"]]
    stages.prune(
        model_dir=snakemake.input.model,
        component=snakemake.wildcards.component,
        settings=PruneSettings(**settings),
        calibration=CalibrationSettings(**stage["calibration"]) if stage["calibration"] else None,
        prompts=prompts,
        statistics_path=snakemake.input.get("statistics"),
        out_dir=Path(snakemake.output.artifact).parent,
        device=snakemake.params.device,
        dtype=stage["dtype"],
    )
