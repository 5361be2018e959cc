# score stage: FID against cached reference features, CLIP score, and paired signals against
# the dense images of the same prompts and seeds, per run.


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
        unpack(score_inputs),
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
