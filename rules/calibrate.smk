# calibrate stage: input-norm statistics of the dense component's target layers.


rule calibrate:
    input:
        model=MODEL_DIR,
        prompts=CALIBRATION_PROMPTS,
    output:
        statistics=f"{RESULTS}/calibration/{{component}}/statistics.safetensors",
        provenance=f"{RESULTS}/calibration/{{component}}/statistics.provenance.json",
    params:
        stage=stage_settings("calibrate"),
        device=config["device"],
    conda:
        ENV
    log:
        f"logs/{MODEL}/calibrate/{{component}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/calibrate/{{component}}.tsv"
    threads: 1
    resources:
        gpu=GPU,
        runtime=120,
    script:
        "../scripts/calibrate.py"
