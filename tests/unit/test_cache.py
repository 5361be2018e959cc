"""Adoption of cached artifacts from their provenance records (no DVC needed)."""

import copy

from sdprune.workflow.store import adoption
from sdprune.workflow.params import expected_params
from sdprune.workflow.provenance import code_fingerprint, fingerprint

CONFIG = {
    "model": {"name": "m", "source": "tiny", "revision": None, "dtype": "float32"}, "seed": 0,
    "data": {"evaluation": {"source": "file", "file": "prompts.txt", "num_prompts": 2}},
    "generation": {"num_steps": 4, "guidance_scale": 7.5, "scheduler": None, "height": None, "width": None,
                   "batch_size": 2},
    "reporting": {"showcase_prompts": ["A dog"]},
}


def record(rule, wildcards, inputs, outputs, config, workdir):
    return {"rule": rule, "wildcards": wildcards, "params": expected_params(config, rule, wildcards),
            "code": code_fingerprint(rule, wildcards, workdir), "inputs": inputs, "outputs": outputs}


def records(tmp_path, config=CONFIG):
    (tmp_path / "prompts.txt").write_text("A dog\nA cat\n")
    return {
        "model.provenance.json": record("download_model", {"model": "m"}, {}, ["resources/models/m"], config, tmp_path),
        "prompts.provenance.json": record("prepare_evaluation_prompts", {}, {"prompts.txt": fingerprint(tmp_path / "prompts.txt")},
                                          ["prompts.json"], config, tmp_path),
        "gen.provenance.json": record("generate_images", {"te": "dense", "unet": "dense", "seed": "0"},
                                      {"resources/models/m": "dir:x", "prompts.json": "sha256:y"}, ["images", "gen.json"],
                                      config, tmp_path),
    }


def test_matching_records_are_adopted(tmp_path):
    adopted, rejected = adoption(records(tmp_path), CONFIG, tmp_path)
    assert rejected == {} and len(adopted) == 3


def test_a_config_change_rejects_the_artifact_and_everything_made_from_it(tmp_path):
    changed = copy.deepcopy(CONFIG)
    changed["data"]["evaluation"]["num_prompts"] = 1
    adopted, rejected = adoption(records(tmp_path), changed, tmp_path)
    assert adopted == {"model.provenance.json"}
    assert rejected["prompts.provenance.json"] == "config differs from the one that made it"
    assert rejected["gen.provenance.json"].startswith("made from prompts.json")


def test_an_edited_source_file_rejects_what_was_made_from_it(tmp_path):
    made = records(tmp_path)
    (tmp_path / "prompts.txt").write_text("A dog\nA horse\n")
    adopted, rejected = adoption(made, CONFIG, tmp_path)
    assert "input prompts.txt differs" in rejected["prompts.provenance.json"]
    assert "gen.provenance.json" in rejected


def test_other_code_is_not_adopted(tmp_path):
    made = records(tmp_path)
    made["model.provenance.json"]["code"] = "0" * 64
    adopted, rejected = adoption(made, CONFIG, tmp_path)
    assert rejected["model.provenance.json"] == "code differs from the one that made it"
    assert adopted == {"prompts.provenance.json"}


def write_workflow(root, modules):
    library = root / "src" / "sdprune"
    (library / "sub").mkdir(parents=True, exist_ok=True)
    (root / "scripts").mkdir(exist_ok=True)
    (root / "scripts" / "rule.py").write_text("from sdprune.a import f\n")
    for name, text in {"__init__.py": "", "sub/__init__.py": "", **modules}.items():
        (library / name).write_text(text)


def test_the_code_fingerprint_follows_the_scripts_imports_only(tmp_path):
    modules = {"a.py": "def f():\n    from .sub import deep\n", "sub/deep.py": "X = 1\n", "unused.py": "Y = 1\n"}
    write_workflow(tmp_path, modules)
    before = code_fingerprint("rule", {}, tmp_path)
    write_workflow(tmp_path, {**modules, "unused.py": "Y = 2\n"})
    assert code_fingerprint("rule", {}, tmp_path) == before  # a module the rule never imports
    write_workflow(tmp_path, {**modules, "unused.py": "Y = 2\n", "sub/deep.py": "X = 2\n"})
    assert code_fingerprint("rule", {}, tmp_path) != before  # imported lazily, two levels down


def test_params_do_not_depend_on_the_order_of_keys_in_the_config():
    reordered = copy.deepcopy(CONFIG)
    reordered["data"]["evaluation"] = dict(reversed(list(CONFIG["data"]["evaluation"].items())))
    reordered["generation"] = dict(reversed(list(CONFIG["generation"].items())))
    for rule, wildcards in (("prepare_evaluation_prompts", {}), ("generate_images", {"seed": "0"})):
        assert repr(expected_params(reordered, rule, wildcards)) == repr(expected_params(CONFIG, rule, wildcards))


def test_owl_settings_belong_to_owl_artifacts_only():
    from pathlib import Path

    from sdprune.workflow.validation import load_config

    root = Path(__file__).resolve().parents[2]
    config = load_config(root / "config/tiny.yaml", root / "schemas/config.schema.yaml")
    changed = copy.deepcopy(config)
    changed["pruning"]["owl"]["lambda"] = 0.05
    for method, differs in (("magnitude", False), ("wanda", False), ("owl_magnitude", True), ("owl_wanda", True)):
        wildcards = {"component": "text_encoder", "scope": "linear", "method": method, "pattern": "unstructured",
                     "sparsity": "0.5"}
        before, after = (expected_params(c, "prune", wildcards) for c in (config, changed))
        assert (before != after) == differs, method
