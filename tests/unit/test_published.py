"""Published values beside ours: which file shape is which, and which of our runs a published row matches."""

import math

import pandas as pd
import pytest

from sdprune.reporting.published import comparison_table, match_key, published_kind

OBS_DIFF = "data/published/obs-diff-2025-sd21base.csv"
RAMESH_ZHAO = "data/published/ramesh-zhao-2024-sd2.csv"


def run(unet_method="dense", pattern="", sparsity=0.0, *, text_method="dense", seed=0, status="ok", fid=30.0,
        clip=0.31, reward=0.1, layers="transformer"):
    return {"status": status, "seed": seed, "text_method": text_method, "unet_method": unet_method,
            "unet_pattern": pattern, "unet_sparsity": sparsity, "unet_layers": layers if unet_method != "dense" else "",
            "fid": fid, "clip_score": clip, "image_reward": reward}


def published():
    return pd.read_csv(OBS_DIFF)


def test_the_two_published_files_are_told_apart_by_their_columns(tmp_path):
    assert published_kind(OBS_DIFF) == "method_rows"
    assert published_kind(RAMESH_ZHAO) == "paper_grid"
    odd = tmp_path / "odd.csv"
    odd.write_text("model,score\nx,1\n")
    with pytest.raises(ValueError, match="no known published shape"):
        published_kind(odd)


def test_keys_agree_across_spellings_and_differ_where_the_run_differs():
    assert match_key("obs-diff", "unstructured", 0.5) == match_key("obs_diff", "unstructured", 0.5000001)
    assert match_key("obs_diff", "2:4", 0.5) == match_key("obs_diff", "2of4", 0.5)
    assert match_key("dense", "none", 0.0) == match_key("dense", "", 0.0)
    assert match_key("obs_diff", "2of4", 0.5) != match_key("obs_diff", "unstructured", 0.5)
    assert match_key("wanda", "unstructured", 0.4) != match_key("wanda", "unstructured", 0.5)
    assert match_key("wanda", "unstructured", 0.5) != match_key("magnitude", "unstructured", 0.5)


def test_a_matching_run_gets_the_published_values_and_its_difference():
    runs = pd.DataFrame([run(), run("obs_diff", "unstructured", 0.5, fid=29.0, reward=0.05)])
    table = comparison_table(runs, published(), seed=0).set_index(["method", "pattern", "sparsity"])
    row = table.loc[("obs_diff", "unstructured", 0.5)]
    assert row.fid_published == 27.41 and row.image_reward_published == -0.0356
    assert row.fid_difference == pytest.approx(29.0 - 27.41)
    assert row.clip_score_difference == pytest.approx(0.31 - 0.3102)
    dense = table.loc[("dense", "", 0.0)]
    assert dense.fid_published == 31.25 and dense.fid == 30.0


def test_wrong_pattern_sparsity_method_seed_or_text_encoder_does_not_match():
    runs = pd.DataFrame([
        run("obs_diff", "2of4", 0.5),                      # published obs-diff 0.5 is unstructured
        run("wanda", "unstructured", 0.4),                 # published wanda is at 0.5 only
        run("sparsegpt", "unstructured", 0.5),             # not published at all
        run("magnitude", "unstructured", 0.4, seed=1),     # published magnitude 0.4, but not the base seed
        run("obs_diff", "unstructured", 0.4, text_method="magnitude"),  # not U-Net-only
        run("obs_diff", "unstructured", 0.4, status="N/A: too sparse"),
    ])
    table = comparison_table(runs, published(), seed=0)
    ours = table[table.fid.notna()]
    assert len(ours) == 3 and ours.fid_published.isna().all()
    # Every published row stays listed, ours empty where no run of ours matched.
    assert len(table) == 3 + len(published())
    unmatched = table[table.fid.isna()]
    assert set(zip(unmatched.method, unmatched.sparsity)) == {("dense", 0.0), ("obs_diff", 0.4), ("magnitude", 0.4),
                                                              ("obs_diff", 0.5), ("wanda", 0.5)}
    assert all(math.isnan(v) for v in unmatched.fid_difference)
