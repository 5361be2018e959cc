# score stage: FID against cached reference features, CLIP score, and paired signals against
# the dense images of the same prompts and seeds, per run.


rule reference_features:
    input:
        images=fid_reference_images(),
        weights=lambda wildcards: fid_weights(wildcards.protocol),
    output:
        features=f"{RESULTS}/scores/reference_features_{{protocol}}.safetensors",
        provenance=f"{RESULTS}/scores/reference_features_{{protocol}}.provenance.json",
    params:
        stage=lambda wildcards: stage_params.reference_features_params(config, wildcards.protocol),
        device=config["device"],
    conda:
        ENV
    log:
        f"logs/{MODEL}/reference_features_{{protocol}}.log",
    threads: 1
    resources:
        gpu=GPU,
        runtime=120,
    script:
        "../scripts/reference_features.py"


rule score:
    input:
        unpack(score_inputs),
    output:
        scores=run_path("{te}", "{unet}", "{seed}", "scores.json"),
        per_image=run_path("{te}", "{unet}", "{seed}", "per_image.csv"),
        provenance=run_path("{te}", "{unet}", "{seed}", "scores.provenance.json"),
    params:
        stage=lambda wildcards: stage_params.score_params(config),
        device=config["device"],
    conda:
        ENV
    log:
        f"logs/{MODEL}/score/te={{te}}/unet={{unet}}/seed={{seed}}.log",
    threads: 1
    resources:
        gpu=GPU,
        runtime=60,
    script:
        "../scripts/score.py"
