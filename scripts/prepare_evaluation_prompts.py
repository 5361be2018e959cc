"""Rule prepare_evaluation_prompts: the prompts every run generates images from."""

from sdprune.evaluation.prompts import PromptRecord, read_captions, read_prompt_file, sample_coco, write_prompt_records
from sdprune.evaluation.scene_data import evaluation_scenes, scene_records
from sdprune.workflow.jobs import snakemake_job

settings = snakemake.params.stage
with snakemake_job(snakemake) as log:
    if settings["source"] == "coco":
        captions = read_captions(snakemake.input.annotations, settings["split"])
        records = sample_coco(captions, num=settings["num_prompts"], seed=settings["seed"])
    elif settings["source"] == "scenes":
        records = scene_records(evaluation_scenes(settings["num_prompts"], settings["world_seed"]))
    else:
        prompts = read_prompt_file(snakemake.input.file, limit=settings["num_prompts"])
        records = [PromptRecord(i, p) for i, p in enumerate(prompts)]
    write_prompt_records(snakemake.output.prompts, records)
    log.info("%d evaluation prompts", len(records))
