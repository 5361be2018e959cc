# Prompt sets (evaluation, calibration) and the evaluation set's reference images (COCO's, or the
# scene world's exact renders).


rule prepare_evaluation_prompts:
    input:
        unpack(evaluation_prompt_inputs),
    output:
        prompts=EVALUATION_PROMPTS,
        provenance=provenance_of(EVALUATION_PROMPTS),
    params:
        stage=stage_settings("prepare_evaluation_prompts"),
    conda:
        ENV
    log:
        f"logs/{MODEL}/prepare_evaluation_prompts.log",
    localrule: True
    script:
        "../scripts/prepare_evaluation_prompts.py"


rule prepare_calibration_prompts:
    input:
        unpack(calibration_prompt_inputs),
    output:
        prompts=CALIBRATION_PROMPTS,
        provenance=provenance_of(CALIBRATION_PROMPTS),
    params:
        stage=stage_settings("prepare_calibration_prompts"),
    conda:
        ENV
    log:
        f"logs/{MODEL}/prepare_calibration_prompts.log",
    localrule: True
    script:
        "../scripts/prepare_calibration_prompts.py"


rule download_coco_archive:
    output:
        archive=str(Path(DATA["evaluation"]["coco_dir"]) / "{archive}.zip"),
    wildcard_constraints:
        archive="annotations_trainval2017|train2017|val2017",
    conda:
        ENV
    log:
        "logs/data/download_coco_{archive}.log",
    resources:
        runtime=600,
    localrule: True
    script:
        "../scripts/download_coco_archive.py"


rule extract_reference_images:
    input:
        archive=coco_archive(DATA["evaluation"]["split"]),
        prompts=EVALUATION_PROMPTS,
    output:
        images=directory(f"{RESULTS}/data/reference_images"),
        provenance=f"{RESULTS}/data/reference_images.provenance.json",
    params:
        stage=stage_settings("extract_reference_images"),
    conda:
        ENV
    log:
        f"logs/{MODEL}/extract_reference_images.log",
    script:
        "../scripts/extract_reference_images.py"


rule render_reference_scenes:
    input:
        prompts=EVALUATION_PROMPTS,
    output:
        images=directory(f"{RESULTS}/data/reference_scenes"),
        provenance=f"{RESULTS}/data/reference_scenes.provenance.json",
    params:
        stage=stage_settings("render_reference_scenes"),
    conda:
        ENV
    log:
        f"logs/{MODEL}/render_reference_scenes.log",
    localrule: True
    script:
        "../scripts/render_reference_scenes.py"
