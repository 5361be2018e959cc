# prune stage: one component, one method, one pattern, one sparsity. The artifact holds only
# what differs from the base model; report.json beside it holds the measured accounting.

PRUNED = f"{RESULTS}/prune/{{component}}/{{scope}}/{{method}}/{{pattern}}/{{sparsity}}"


rule prune:
    input:
        unpack(prune_inputs),
    output:
        artifact=f"{PRUNED}/artifact.safetensors",
        report=f"{PRUNED}/report.json",
        provenance=f"{PRUNED}/artifact.provenance.json",
    params:
        stage=stage_settings("prune"),
        device=config["device"],
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
