"""PruneSpec: one spec from the config to the mask; its slug is its path and parses back to it."""

import re

import pytest

from sdprune.pruning.masks import Pattern
from sdprune.pruning.spec import SLUG_PATTERN, PruneSpec


@pytest.mark.parametrize("slug, expected", [
    ("magnitude-unstructured-0.5", PruneSpec("magnitude", Pattern(), 0.5, "linear")),
    ("sparsegpt-2of4-0.5-conv", PruneSpec("sparsegpt", Pattern(2, 4), 0.5, "linear+conv")),
    ("owl_wanda-unstructured-0.35-transformer", PruneSpec("owl_wanda", Pattern(), 0.35, "transformer")),
    ("sparsegpt-structured-0.3-transformer", PruneSpec("sparsegpt", Pattern(sliced=True), 0.3, "transformer")),
])
def test_slug_parses_to_the_spec_and_back(slug, expected):
    assert PruneSpec.parse(slug) == expected
    assert expected.slug == slug
    assert re.fullmatch(SLUG_PATTERN, slug)  # the workflow's wildcard constraint accepts it


def test_every_layer_scope_has_its_own_path():
    """A transformer-only run must not share its artifact folder with the all-Linear run."""
    slugs = {PruneSpec("wanda", "unstructured", 0.5, scope).slug for scope in ("linear", "linear+conv", "transformer")}
    assert len(slugs) == 3


def test_pattern_text_is_accepted_in_either_form():
    assert PruneSpec("wanda", "2:4", 0.5) == PruneSpec("wanda", "2of4", 0.5) == PruneSpec("wanda", Pattern(2, 4), 0.5)


@pytest.mark.parametrize("args, message", [
    (("wanda", "2:4", 0.3), "prunes exactly 0.5, not 0.3"),
    (("wanda", "unstructured", 1.0), "outside"),
    (("wanda", "unstructured", 0.5, "conv-only"), "unknown layer scope"),
])
def test_impossible_specs_are_refused(args, message):
    with pytest.raises(ValueError, match=message):
        PruneSpec(*args)


@pytest.mark.parametrize("slug", ["magnitude-0.5", "wanda-unstructured-1.5", "wanda-unstructured-0.5-attention", "dense"])
def test_malformed_slugs_are_refused(slug):
    with pytest.raises(ValueError, match="not a prune spec"):
        PruneSpec.parse(slug)
