# score stage: FID against cached reference features, CLIP score, and paired signals against
# the dense images of the same prompts and seeds, per run.
# Optional (scoring.cmmd, scoring.image_reward): CMMD against cached reference embeddings, and
# ImageReward, scored by its own rule in its own environment and merged into scores.json.


rule reference_features:
    input:
        images=fid_reference_images(),
        weights=protocol_fid_weights,
    output:
        features=f"{RESULTS}/scores/reference_features_{{protocol}}.safetensors",
        provenance=f"{RESULTS}/scores/reference_features_{{protocol}}.provenance.json",
    params:
        stage=stage_settings("reference_features"),
        device=config["device"],
    conda:
        ENV
    log:
        f"logs/{MODEL}/reference_features_{{protocol}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/reference_features_{{protocol}}.tsv"
    threads: 1
    resources:
        gpu=GPU,
        runtime=120,
    script:
        "../scripts/reference_features.py"


rule score:
    input:
        unpack(scored_inputs),
    output:
        scores=run_path("{te}", "{unet}", "{seed}", "scores.json"),
        per_image=run_path("{te}", "{unet}", "{seed}", "per_image.csv"),
        provenance=run_path("{te}", "{unet}", "{seed}", "scores.provenance.json"),
    params:
        stage=stage_settings("score"),
        device=config["device"],
    conda:
        ENV
    log:
        f"logs/{MODEL}/score/te={{te}}/unet={{unet}}/seed={{seed}}.log",
    benchmark:
        run_path("{te}", "{unet}", "{seed}", "benchmark_score.tsv")
    threads: 1
    resources:
        gpu=GPU,
        runtime=60,
    script:
        "../scripts/score.py"


rule reference_embeddings:
    input:
        images=fid_reference_images(),
        weights=CMMD_WEIGHTS,
    output:
        embeddings=REFERENCE_EMBEDDINGS,
        provenance=f"{RESULTS}/scores/reference_embeddings_cmmd.provenance.json",
    params:
        stage=stage_settings("reference_embeddings"),
        device=config["device"],
    conda:
        ENV
    log:
        f"logs/{MODEL}/reference_embeddings_cmmd.log",
    benchmark:
        f"{RESULTS}/benchmarks/reference_embeddings_cmmd.tsv"
    threads: 1
    resources:
        gpu=GPU,
        runtime=120,
    script:
        "../scripts/reference_embeddings.py"


# In ImageReward's conda environment; pip users point scoring.image_reward_python at theirs instead.
rule score_image_reward:
    input:
        images=run_path("{te}", "{unet}", "{seed}", "images"),
        prompts=EVALUATION_PROMPTS,
        weights=IMAGE_REWARD_WEIGHTS,
    output:
        rewards=run_path("{te}", "{unet}", "{seed}", "image_reward.json"),
        provenance=run_path("{te}", "{unet}", "{seed}", "image_reward.provenance.json"),
    params:
        stage=stage_settings("score_image_reward"),
        device=config["device"],
    conda:
        IMAGE_REWARD_ENV
    log:
        f"logs/{MODEL}/score_image_reward/te={{te}}/unet={{unet}}/seed={{seed}}.log",
    benchmark:
        run_path("{te}", "{unet}", "{seed}", "benchmark_score_image_reward.tsv")
    threads: 1
    resources:
        gpu=GPU,
        runtime=60,
    script:
        "../scripts/score_image_reward.py"
