import pytest
from accelerate import init_empty_weights
from diffusers import UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel

from sdprune.pruning.accounting import full_model_sparsity
from sdprune.models.architectures import SD2_TEXT_ENCODER, SD2_UNET
from sdprune.models.components import execution_blocks, find_layers

SD2_TEXT_PARAMS, SD2_UNET_PARAMS = 340_387_840, 865_910_724


@pytest.fixture(scope="module")
def sd2_components():
    with init_empty_weights():  # meta device: shapes only, no memory
        return CLIPTextModel(CLIPTextConfig(**SD2_TEXT_ENCODER)), UNet2DConditionModel(**SD2_UNET)


def test_sd2_shapes_match_the_paper(sd2_components):
    text, unet = sd2_components
    assert sum(p.numel() for p in text.parameters()) == SD2_TEXT_PARAMS
    assert sum(p.numel() for p in unet.parameters()) == SD2_UNET_PARAMS
    text_linear, unet_linear = find_layers(text), find_layers(unet)
    assert (len(text_linear), len(unet_linear)) == (138, 216)
    assert sum(l.weight.numel() for l in text_linear.values()) == 289_406_976
    assert sum(l.weight.numel() for l in unet_linear.values()) == 301_219_840
    assert len(find_layers(unet, "linear+conv")) == 216 + 66
    assert len(execution_blocks(text, "text_encoder")) == 23
    assert execution_blocks(unet, "unet")[0] == "time_embedding"


def test_the_papers_38_5_percent_zeroes_20_1_percent(sd2_components):
    text, unet = sd2_components
    targets = {"text_encoder": (text, 0.475), "unet": (unet, 0.35)}
    components = {}
    for name, (module, sparsity) in targets.items():
        weights = sum(l.weight.numel() for l in find_layers(module).values())
        components[name] = {"requested_sparsity": sparsity, "total_params": sum(p.numel() for p in module.parameters()),
                            "zeros": round(sparsity * weights)}
    result = full_model_sparsity(components)
    assert result["nominal_full_sparsity"] == pytest.approx(0.385, abs=5e-4)
    assert result["true_full_sparsity"] == pytest.approx(0.201, abs=5e-4)
    assert result["full_model_params"] == 1_206_298_564
