"""Rule prepare_calibration_prompts: calibration prompts, disjoint from the evaluation prompts."""

from sdprune.evaluation.prompts import (PromptRecord, read_captions, read_dataset_prompts, read_prompt_file, read_prompt_records,
                          sample_coco, write_prompt_records)
from sdprune.evaluation.scene_data import calibration_scenes, scene_records
from sdprune.workflow.jobs import snakemake_job

settings = snakemake.params.stage
with snakemake_job(snakemake) as log:
    evaluation = read_prompt_records(snakemake.input.evaluation)
    if settings["source"] == "coco":
        captions = read_captions(snakemake.input.annotations, settings["evaluation_split"])
        taken = [r.image_id for r in evaluation if r.image_id is not None]
        records = sample_coco(captions, num=settings["num_prompts"], seed=settings["seed"], exclude=taken)
    elif settings["source"] == "scenes":  # train-split captions, never the evaluation's held-out pairs
        records = scene_records(calibration_scenes(settings["num_prompts"], settings["world_seed"]))
    else:
        if settings["source"] == "huggingface":
            prompts = read_dataset_prompts(settings["dataset"], field=settings["field"], num=settings["num_prompts"],
                                           split=settings["split"], revision=settings["revision"])
        else:
            prompts = read_prompt_file(snakemake.input.file, limit=settings["num_prompts"])
        records = [PromptRecord(i, p) for i, p in enumerate(prompts)]
    overlap = {r.prompt for r in records} & {r.prompt for r in evaluation}
    if overlap:
        log.warning("%d calibration prompts also appear among the evaluation prompts", len(overlap))
    write_prompt_records(snakemake.output.prompts, records)
    log.info("%d calibration prompts", len(records))
