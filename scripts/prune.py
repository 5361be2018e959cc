"""Rule prune: prune one component; write the artifact and its report."""

from pathlib import Path

from sdprune.evaluation.prompts import read_prompt_records
from sdprune.pruning.spec import OwlSettings
from sdprune.pruning.calibration import CalibrationSettings
from sdprune.pruning.spec import PruneSpec
from sdprune.workflow.jobs import snakemake_job
from sdprune.workflow.stages.prune import prune

stage = snakemake.params.stage
with snakemake_job(snakemake):
    prompts = []
    if "prompts" in snakemake.input.keys():
        prompts = [r.prompt for r in read_prompt_records(snakemake.input.prompts)][: stage["num_prompts"]]
    prune(
        model_dir=snakemake.input.model,
        component=snakemake.wildcards.component,
        spec=PruneSpec.parse(stage["spec"]),
        owl=OwlSettings(**stage["owl"]) if stage["owl"] else OwlSettings(),
        calibration=CalibrationSettings(**stage["calibration"]) if stage["calibration"] else None,
        prompts=prompts,
        statistics_path=snakemake.input.get("statistics"),
        out_dir=Path(snakemake.output.artifact).parent,
        device=snakemake.params.device,
        dtype=stage["dtype"],
    )
