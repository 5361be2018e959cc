"""Configurations of the pipelines we build in code.

`SD2_*` reproduce Stable Diffusion 2 (768-v) exactly, so a random-weight copy has
the real parameter counts and layer shapes (scale tests without the hub).
`TINY_*` keep the same architecture families at toy sizes for CPU runs (random weights).
`TOY_*` are the model that `sdprune.models.toy` trains on the scene world, so that it draws.
"""

from __future__ import annotations

from typing import Mapping

from sdprune.scenes.world import IMAGE_SIZE, SHAPES

SD2_UNET = dict(
    sample_size=96,  # 768 px / 8
    in_channels=4,
    out_channels=4,
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    block_out_channels=(320, 640, 1280, 1280),
    layers_per_block=2,
    attention_head_dim=(5, 10, 20, 20),  # diffusers' name; it is the number of heads (head dim 64)
    cross_attention_dim=1024,
    use_linear_projection=True,
    upcast_attention=True,
)

SD2_TEXT_ENCODER = dict(  # OpenCLIP ViT-H/14 text tower without its last layer, as SD2 ships it
    vocab_size=49408,
    hidden_size=1024,
    intermediate_size=4096,
    num_hidden_layers=23,
    num_attention_heads=16,
    max_position_embeddings=77,
    hidden_act="gelu",
    layer_norm_eps=1e-5,
    projection_dim=512,
    bos_token_id=0,
    eos_token_id=2,
    pad_token_id=1,
)

SD2_VAE = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4,
    block_out_channels=(128, 256, 512, 512),
    layers_per_block=2,
    latent_channels=4,
    sample_size=768,
)

SD2_SCHEDULER = dict(
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="scaled_linear",
    clip_sample=False,
    set_alpha_to_one=False,
    steps_offset=1,
    prediction_type="v_prediction",
)

TINY_UNET = dict(
    sample_size=8,  # 64 px / 8
    in_channels=4,
    out_channels=4,
    down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
    block_out_channels=(32, 64),
    layers_per_block=1,
    attention_head_dim=(2, 4),
    cross_attention_dim=32,
    use_linear_projection=True,
    norm_num_groups=32,
)

TINY_TEXT_ENCODER = dict(
    vocab_size=49408,  # the real CLIP BPE vocabulary
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=4,
    num_attention_heads=4,
    max_position_embeddings=77,
    hidden_act="gelu",
    layer_norm_eps=1e-5,
    projection_dim=32,
    bos_token_id=0,
    eos_token_id=2,
    pad_token_id=1,
)

TINY_VAE = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4,
    block_out_channels=(8, 16, 16, 16),  # four blocks: the same 8x latent downsampling as SD
    layers_per_block=1,
    latent_channels=4,
    norm_num_groups=8,
    sample_size=64,
)

TINY_SCHEDULER = dict(SD2_SCHEDULER, prediction_type="epsilon")

# --- toy: trained on the scene world (sdprune.models.toy) ---

LATENT_CELL = 8  # pixels per latent cell along each axis: 64 px images, 8x8 latents
LATENT_SIZE = IMAGE_SIZE // LATENT_CELL
LATENT_CHANNELS = 3 + len(SHAPES)  # colour offset + shape coverage (see toy.layouts.layout_latent)
MAX_TOKENS = 24  # the longest caption is 19 tokens (three "cyan"s, two BPE pieces each) with BOS/EOS

TOY_VAE = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=("DownEncoderBlock2D",) * 4,  # three downsamplings: 64 px -> 8x8 latents
    up_block_types=("UpDecoderBlock2D",) * 4,
    block_out_channels=(8, 16, 32, 32),  # the full-resolution block dominates the cost: keep it narrow
    layers_per_block=1,
    latent_channels=LATENT_CHANNELS,  # a handcrafted layout latent (toy.layouts.layout_latent), not a learned one
    norm_num_groups=8,
    sample_size=IMAGE_SIZE,
    mid_block_add_attention=False,  # flat colours need no global mixing in the autoencoder
)

TOY_UNET = dict(
    sample_size=LATENT_SIZE,
    in_channels=LATENT_CHANNELS,
    out_channels=LATENT_CHANNELS,
    down_block_types=("CrossAttnDownBlock2D",) * 2,  # text conditioning at every level: 8x8 and 4x4
    up_block_types=("CrossAttnUpBlock2D",) * 2,
    block_out_channels=(64, 128),
    layers_per_block=1,
    attention_head_dim=(4, 4),  # diffusers' name for the number of heads
    cross_attention_dim=64,
    use_linear_projection=True,  # as SD2
    norm_num_groups=16,
)

TOY_TEXT_ENCODER = dict(
    vocab_size=49408,  # the real CLIP BPE vocabulary, so the real tokenizer drives it
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    max_position_embeddings=MAX_TOKENS,
    hidden_act="gelu",
    layer_norm_eps=1e-5,
    projection_dim=64,
    bos_token_id=0,
    eos_token_id=2,
    pad_token_id=1,
)

TOY_SCHEDULER = dict(SD2_SCHEDULER, prediction_type="epsilon")  # epsilon: x0/v prediction drew noise here

BUILT_IN = {
    "tiny": dict(unet=TINY_UNET, text_encoder=TINY_TEXT_ENCODER, vae=TINY_VAE, scheduler=TINY_SCHEDULER),
    "toy": dict(unet=TOY_UNET, text_encoder=TOY_TEXT_ENCODER, vae=TOY_VAE, scheduler=TOY_SCHEDULER),
    "sd2-random": dict(unet=SD2_UNET, text_encoder=SD2_TEXT_ENCODER, vae=SD2_VAE, scheduler=SD2_SCHEDULER),
}

# Component sizes of the built-in models. Counting them builds both models on the meta device, which
# needs diffusers and transformers imported: 5 s of every Snakefile start for a preset with an allocation.
BUILT_IN_PARAMETER_COUNTS = {
    "tiny": {"text_encoder": 1_617_760, "unet": 792_964},
    "toy": {"text_encoder": 3_230_720, "unet": 4_196_359},
    "sd2-random": {"text_encoder": 340_387_840, "unet": 865_910_724},
}

# Component sizes of hub models, so a total sparsity can be allocated before downloading.
# SD 2, 2-base, 2.1 and 2.1-base share one architecture (the sample size differs only).
_SD2_COUNTS = BUILT_IN_PARAMETER_COUNTS["sd2-random"]
KNOWN_PARAMETER_COUNTS = {
    "stabilityai/stable-diffusion-2": _SD2_COUNTS,
    "stabilityai/stable-diffusion-2-base": _SD2_COUNTS,
    "stabilityai/stable-diffusion-2-1": _SD2_COUNTS,
    "stabilityai/stable-diffusion-2-1-base": _SD2_COUNTS,
}


def built_in_parameter_counts(source: str) -> dict[str, int]:
    """Component sizes of a built-in model, from the table below (a test recounts each on the meta device)."""
    return dict(BUILT_IN_PARAMETER_COUNTS[source])


def count_built_in_parameters(source: str) -> dict[str, int]:
    """Component sizes of a built-in model, counted on the meta device (no memory, no weights)."""
    from transformers import CLIPTextConfig

    configs = BUILT_IN[source]
    return meta_parameter_counts(CLIPTextConfig(**configs["text_encoder"]), configs["unet"])


def meta_parameter_counts(text_config, unet_config: Mapping) -> dict[str, int]:
    """Parameters of the text encoder and U-Net these configs describe, built on the meta device
    (no memory, no weights): the one way sizes are counted, for built-in and downloaded models alike."""
    from accelerate import init_empty_weights
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextModel

    with init_empty_weights():
        unet = UNet2DConditionModel.from_config(dict(unet_config))
        text = CLIPTextModel(text_config)
    return {"text_encoder": sum(p.numel() for p in text.parameters()), "unet": sum(p.numel() for p in unet.parameters())}
