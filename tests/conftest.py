"""Shared fixtures: tiny models built in code, seeded, saved to a temporary folder."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]

CALIBRATION_PROMPTS = [
    "A cat looking out of a window",
    "A bowl of cereal with milk",
    "A city skyline at dusk",
    "A person walking a dog on a leash",
]


@pytest.fixture(autouse=True)
def _quiet_and_deterministic():
    torch.manual_seed(0)
    logging.getLogger("diffusers").setLevel(logging.ERROR)
    logging.getLogger("transformers").setLevel(logging.ERROR)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """The tiny pipeline, saved once per session the way download_model saves it."""
    from sdprune.models.loading import fetch_pipeline

    return fetch_pipeline("tiny", tmp_path_factory.mktemp("models") / "tiny", seed=0)


@pytest.fixture
def tiny_pipe(tiny_model_dir):
    from sdprune.models.loading import load_pipeline

    return load_pipeline(tiny_model_dir)


@pytest.fixture
def calibration_prompts() -> list[str]:
    return list(CALIBRATION_PROMPTS)
