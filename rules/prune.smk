# prune stage: one component, one method, one pattern, one sparsity. The artifact holds only
# what differs from the base model; report.json beside it holds the measured accounting.


rule prune:
    input:
        unpack(prune_inputs),
    output:
        artifact=f"{RESULTS}/prune/{{component}}/{{scope}}/{{method}}/{{pattern}}/{{sparsity}}/artifact.safetensors",
        report=f"{RESULTS}/prune/{{component}}/{{scope}}/{{method}}/{{pattern}}/{{sparsity}}/report.json",
    params:
        settings=prune_settings,
        calibration=calibration_settings,
        num_prompts=calibration_prompt_count,
        device=config["device"],
        dtype=config["model"]["dtype"],
    conda:
        ENV
    log:
        f"logs/{MODEL}/prune/{{component}}/{{scope}}/{{method}}-{{pattern}}-{{sparsity}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/prune/{{component}}/{{scope}}/{{method}}-{{pattern}}-{{sparsity}}.tsv"
    threads: 1
    resources:
        gpu=GPU,
        runtime=240,
    script:
        "../scripts/prune.py"
