# download-model stage: the pipeline and the metric networks, saved under resources/ so
# GPU nodes without internet run offline. Built-in sources (tiny, sd2-random) take the same path,
# and so does the scene world's FID network (fid_net scenes), trained in seconds on one thread.
# The toy model is trained here too (minutes, every core it gets): a trained built-in model.


rule download_model:
    output:
        model=directory("resources/models/{model}"),
        provenance="resources/models/{model}.provenance.json",
    params:
        stage=stage_settings("download_model"),
    conda:
        ENV
    log:
        "logs/{model}/download_model.log",
    threads: workflow.cores if TRAINS_MODEL else 1  # the same --cores give the same toy weights
    # First: everything else waits for the model but these small jobs, which would otherwise hold a
    # core (and the model's start) while the scene FID network trains.
    priority: 100
    resources:
        runtime=120,
        mem_mb=16000,
    localrule: True
    script:
        "../scripts/download_model.py"


rule download_fid_weights:
    output:
        weights=directory("resources/metrics/fid/{fid_net}"),
        provenance="resources/metrics/fid/{fid_net}.provenance.json",
    params:
        stage=stage_settings("download_fid_weights"),
    wildcard_constraints:
        fid_net="inception|pytorch_inception|standin|scenes",
    conda:
        ENV
    log:
        "logs/metrics/download_fid_weights_{fid_net}.log",
    localrule: True
    script:
        "../scripts/download_fid_weights.py"


rule download_clip_weights:
    output:
        weights=directory("resources/metrics/clip/{clip_net}"),
        provenance="resources/metrics/clip/{clip_net}.provenance.json",
    params:
        stage=stage_settings("download_clip_weights"),
    conda:
        ENV
    log:
        "logs/metrics/download_clip_weights_{clip_net}.log",
    localrule: True
    script:
        "../scripts/download_clip_weights.py"


# CMMD's embedding network: OpenAI CLIP ViT-L/14@336 through open_clip, or the seeded stand-in CLIP.
rule download_cmmd_weights:
    output:
        weights=directory("resources/metrics/cmmd/{cmmd_net}"),
        provenance="resources/metrics/cmmd/{cmmd_net}.provenance.json",
    params:
        stage=stage_settings("download_cmmd_weights"),
    wildcard_constraints:
        cmmd_net="ViT-L-14-336-openai|standin",
    conda:
        ENV
    log:
        "logs/metrics/download_cmmd_weights_{cmmd_net}.log",
    localrule: True
    script:
        "../scripts/download_cmmd_weights.py"


# ImageReward's checkpoint (stored as safetensors), med_config and BERT tokenizer. Only huggingface_hub
# and torch are needed here, so it runs in the main environment; scoring needs ImageReward's own.
rule download_image_reward_weights:
    output:
        weights=directory("resources/metrics/image_reward/ImageReward-v1.0"),
        provenance="resources/metrics/image_reward/ImageReward-v1.0.provenance.json",
    params:
        stage=stage_settings("download_image_reward_weights"),
    conda:
        ENV
    log:
        "logs/metrics/download_image_reward_weights.log",
    localrule: True
    script:
        "../scripts/download_image_reward_weights.py"
