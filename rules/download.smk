# download-model stage: the pipeline and the metric networks, saved under resources/ so
# GPU nodes without internet run offline. Built-in sources (tiny, sd2-random) take the same path.


rule download_model:
    output:
        model=directory("resources/models/{model}"),
    params:
        source=config["model"]["source"],
        revision=config["model"]["revision"],
        dtype=config["model"]["dtype"],
        seed=config["seed"],
    conda:
        ENV
    log:
        "logs/{model}/download_model.log",
    threads: 1
    resources:
        runtime=120,
        mem_mb=16000,
    script:
        "../scripts/download_model.py"


rule download_fid_weights:
    output:
        weights=directory("resources/metrics/fid/{fid_net}"),
    params:
        seed=config["seed"],
    conda:
        ENV
    log:
        "logs/metrics/download_fid_weights_{fid_net}.log",
    wildcard_constraints:
        fid_net="inception|standin",
    script:
        "../scripts/download_fid_weights.py"


rule download_clip_weights:
    output:
        weights=directory("resources/metrics/clip/{clip_net}"),
    params:
        model=SCORING["clip_model"],
        pretrained=SCORING["clip_pretrained"],
        seed=config["seed"],
    conda:
        ENV
    log:
        "logs/metrics/download_clip_weights_{clip_net}.log",
    script:
        "../scripts/download_clip_weights.py"
