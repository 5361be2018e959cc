import pandas as pd
import pytest

from sdprune.reporting.cliffs import Criterion
from sdprune.reporting.paper_tables import dense_noise, paper_tables, write_tables
from sdprune.reporting.tables import read_runs, write_table

COLUMNS = ["text_spec", "unet_spec", "experiments", "allocation", "status", "text_method", "text_sparsity",
           "unet_method", "unet_sparsity", "nominal_full_sparsity", "true_full_sparsity", "fid", "clip_score", "seed"]


def row(text_method, ts, us, fid, clip, experiments, allocation="", seed=0, status="ok"):
    te = "dense" if text_method == "dense" else f"{text_method}-unstructured-{ts:g}"
    unet = "dense" if us == 0 else f"magnitude-unstructured-{us:g}"
    nominal = (ts * 340_387_840 + us * 865_910_724) / 1_206_298_564
    return [te, unet, experiments, allocation, status, text_method, ts, "dense" if us == 0 else "magnitude", us,
            nominal, nominal / 2, fid, clip, seed]


@pytest.fixture
def runs():
    rows = [
        row("dense", 0, 0, 18.0, 0.314, "dense"), row("dense", 0, 0, 18.4, 0.313, "seed_variance", seed=1),
        row("magnitude", 0.6, 0, 21.0, 0.28, "text"), row("magnitude", 0.625, 0, 60.0, 0.22, "text"),
        row("dense", 0, 0.4, 21.5, 0.31, "unet"), row("dense", 0, 0.5, 70.0, 0.28, "unet"),
        row("magnitude", 0.53, 0.07, 20.0, 0.308, "ratios", "0.2@75:25"),
        row("magnitude", 0.35, 0.14, 20.5, 0.314, "ratios", "0.2@50:50"),
        row("owl_magnitude", 0.53, 0.07, 21.0, 0.307, "ratios", "0.2@75:25"),
        row("magnitude", 0.475, 0.35, 18.2, 0.311, "thresholds"),
        row("magnitude", 0.5, 0.375, 20.2, 0.309, "thresholds"),
    ]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    na = {c: None for c in COLUMNS}
    na.update(experiments="ratios", allocation="0.4@75:25", status="N/A: the text encoder would need 106%",
              nominal_full_sparsity=0.4)
    return pd.concat([frame, pd.DataFrame([na])], ignore_index=True)


KINDS = {"text": "grid", "unet": "grid", "ratios": "allocation", "thresholds": "zip", "dense": "grid"}


def test_every_table_is_built(runs):
    tables = paper_tables(runs, kinds=KINDS, seed=0, criterion=Criterion("fid", 1.2))
    assert list(tables) == [f"table{n}" for n in range(2, 11)]
    best = tables["table2"]
    assert list(best.text_sparsity) == [0.6, 0.0] and list(best.unet_sparsity) == [0.0, 0.4]
    grid = tables["table3"]
    assert grid.loc["20%", "75:25"] == "20" and grid.loc["40%", "75:25"] == "N/A"
    assert grid.loc["20%", "50:50"] == "20.5"
    assert tables["table7"].loc["20%", "75:25"] == "21"  # the OWL variant
    assert list(tables["table6"].text_sparsity) == [0.0, 0.5, 0.475]  # dense first, then from the threshold down
    assert len(tables["table10"]) == 1  # only the dense row: no OWL threshold runs here


def test_published_values_sit_beside_ours(runs):
    published = pd.read_csv("data/published/ramesh-zhao-2024-sd2.csv")
    tables = paper_tables(runs.assign(fid_protocol="paper"), kinds=KINDS, seed=0, published=published)
    assert tables["table3"].loc["20%", "75:25"] == "20 (pub 20.92, -0.92)"
    six = tables["table6"].set_index("text_sparsity")
    assert six.loc[0.475, "fid_published"] == 18.15
    assert six.loc[0.475, "fid_difference"] == pytest.approx(18.2 - 18.15)
    assert not tables["table6"].attrs.get("note")


def test_published_fid_only_beside_the_published_protocol(runs, tmp_path):
    published = pd.read_csv("data/published/ramesh-zhao-2024-sd2.csv")
    tables = paper_tables(runs.assign(fid_protocol="clean"), kinds=KINDS, seed=0, published=published)
    assert tables["table3"].loc["20%", "75:25"] == "20"  # no published FID beside a clean-fid value
    assert tables["table4"].loc["20%", "75:25"].startswith("0.308 (pub ")  # CLIP's protocol is the same
    six = tables["table6"]
    assert "fid_published" not in six and "clip_published" in six
    write_tables(tables, tmp_path)
    assert "scored with `clean`" in (tmp_path / "table6.md").read_text()


def test_a_secondary_paper_protocol_is_the_one_compared(runs):
    published = pd.read_csv("data/published/ramesh-zhao-2024-sd2.csv")
    scored = runs.assign(fid_protocol="clean", fid=runs.fid + 100.0, fid_paper=runs.fid)
    tables = paper_tables(scored, kinds=KINDS, seed=0, published=published)
    assert tables["table3"].loc["20%", "75:25"] == "20 (pub 20.92, -0.92)"
    six = tables["table6"].set_index("text_sparsity")
    assert six.loc[0.475, "fid_difference"] == pytest.approx(18.2 - 18.15)


def test_dense_noise_spans_the_seeds(runs):
    noise = dense_noise(runs)
    assert noise["seeds"] == 2 and noise["fid_mean"] == pytest.approx(18.2)
    assert noise["fid_std"] == pytest.approx(0.2828427)  # sample sd of 18.0 and 18.4: 0.4 / sqrt(2)


def test_a_self_referenced_fid_leaves_the_reference_seed_out_of_the_noise(runs, tmp_path):
    noise = dense_noise(runs, reference_seed=0)
    assert (noise["seeds"], noise["fid_seeds"], noise["fid_mean"]) == (2, 1, 18.4)
    write_tables(paper_tables(runs, kinds=KINDS, seed=0), tmp_path, noise=noise)
    note = (tmp_path / "table2.md").read_text()
    assert "Dense CLIP score over 2 seeds: 0.3135 ± 0.00071 (mean ± sd)." in note
    assert "at 1 other seed(s) it is 18.4: compare pruned runs' FID with that noise level." in note


def test_tables_are_written_in_three_formats(runs, tmp_path):
    tables = paper_tables(runs, kinds={"text": "grid"}, seed=0)
    written = write_tables(tables, tmp_path, noise=dense_noise(runs))
    assert len(written) == 27
    assert "No runs of this kind" in (tmp_path / "table5.md").read_text()
    assert "\\begin{tabular}" in (tmp_path / "table2.tex").read_text()
    assert "Dense FID: 18.2 ± 0.28" in (tmp_path / "table2.md").read_text()


def test_a_config_without_allocations_or_infeasible_cells_still_gets_every_table(runs, tmp_path):
    """A slice of the grid (one text-encoder run, say) has no allocation rows and no N/A row."""
    plain = runs[runs.experiments.isin(["dense", "text", "unet"])].reset_index(drop=True)
    write_table(plain, csv_path=tmp_path / "runs.csv")  # as the workflow passes it: through the CSV,
    plain = read_runs(tmp_path / "runs.csv")            # where an all-empty column comes back empty
    assert plain.allocation.tolist() == [""] * len(plain) and plain.fid.dtype == float
    tables = paper_tables(plain, kinds={"text": "grid", "unet": "grid", "dense": "grid"}, seed=0)
    assert sorted(tables, key=lambda name: int(name[5:])) == [f"table{n}" for n in range(2, 11)]
    assert len(tables["table3"]) == 0 and len(tables["table5"]) == 0
    assert len(tables["table6"]) == 1  # the dense row alone
    written = write_tables(tables, tmp_path / "paper")
    assert "No runs of this kind" in (tmp_path / "paper/table3.md").read_text() and len(written) == 27


def with_accuracy(runs):
    """The fixture's runs as if scored on scene captions: accuracy falls as FID climbs (NaN on the N/A row)."""
    return runs.assign(prompt_accuracy=(1.2 - runs.fid.astype(float) / 60).clip(0, 1))


def test_prompt_accuracy_sits_beside_fid_and_clip_where_scored(runs, tmp_path):
    tables = paper_tables(with_accuracy(runs), kinds=KINDS, seed=0, criterion=Criterion("fid", 1.2))
    for name in ("table2", "table5", "table6", "table9", "table10"):
        columns = list(tables[name].columns)
        assert columns[columns.index("clip_score") + 1] == "prompt_accuracy", name
    six = tables["table6"].set_index("text_sparsity")
    assert six.loc[0.475, "prompt_accuracy"] == pytest.approx(1.2 - 18.2 / 60)
    write_tables(tables, tmp_path)
    assert "| prompt_accuracy |" in (tmp_path / "table6.md").read_text()
    plain = paper_tables(runs, kinds=KINDS, seed=0)
    assert not any("prompt_accuracy" in table.columns for table in plain.values())


def test_table2_under_an_accuracy_criterion(runs):
    scored = with_accuracy(runs)  # dense 0.9; text 0.6 -> 0.85, 0.625 -> 0.2; unet 0.4 -> 0.842, 0.5 -> 0.033
    best = paper_tables(scored, kinds=KINDS, seed=0,
                        criterion=Criterion("prompt_accuracy", 0.055, relative=False, drop=True))["table2"]
    # FID (1.2 x dense) keeps unet 0.4 (test_every_table_is_built); 0.058 of accuracy lost is too much here
    assert list(best.text_sparsity) == [0.6] and best.unet_sparsity.tolist() == [0.0]
    with pytest.raises(ValueError, match="prompt_accuracy is not in the runs table"):
        paper_tables(runs, kinds=KINDS, seed=0, criterion=Criterion("prompt_accuracy", 0.05, drop=True))
