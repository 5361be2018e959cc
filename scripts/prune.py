"""Rule prune: prune one component; write the artifact and its report."""

from pathlib import Path

from sdprune import stages
from sdprune.data import read_prompt_records
from sdprune.log import job_logging
from sdprune.masks import parse_pattern
from sdprune.pruning import CalibrationSettings, PruneSettings

with job_logging(snakemake.log[0], threads=snakemake.threads):
    settings = dict(snakemake.params.settings, pattern=parse_pattern(snakemake.params.settings["pattern"]))  # 2of4 -> 2:4
    prompts = []
    if "prompts" in snakemake.input.keys():
        prompts = [r.prompt for r in read_prompt_records(snakemake.input.prompts)][: snakemake.params.num_prompts]
    stages.prune(
        model_dir=snakemake.input.model,
        component=snakemake.wildcards.component,
        settings=PruneSettings(**settings),
        calibration=CalibrationSettings(**snakemake.params.calibration),
        prompts=prompts,
        statistics_path=snakemake.input.get("statistics"),
        out_dir=Path(snakemake.output.artifact).parent,
        device=snakemake.params.device,
        dtype=snakemake.params.dtype,
    )
