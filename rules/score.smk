# score stage: FID against cached reference features, and CLIP score, per run.


rule reference_features:
    input:
        images=fid_reference_images(),
        weights=FID_WEIGHTS,
    output:
        features=f"{RESULTS}/scores/reference_features.safetensors",
    params:
        device=config["device"],
        batch_size=SCORING["batch_size"],
    conda:
        ENV
    log:
        f"logs/{MODEL}/reference_features.log",
    threads: 1
    resources:
        gpu=GPU,
        runtime=120,
    script:
        "../scripts/reference_features.py"


rule score:
    input:
        images=run_path("{te}", "{unet}", "images"),
        prompts=EVALUATION_PROMPTS,
        reference=rules.reference_features.output.features,
        fid_weights=FID_WEIGHTS,
        clip_weights=CLIP_WEIGHTS,
    output:
        scores=run_path("{te}", "{unet}", "scores.json"),
    params:
        device=config["device"],
        batch_size=SCORING["batch_size"],
    conda:
        ENV
    log:
        f"logs/{MODEL}/score/te={{te}}/unet={{unet}}.log",
    threads: 1
    resources:
        gpu=GPU,
        runtime=60,
    script:
        "../scripts/score.py"
