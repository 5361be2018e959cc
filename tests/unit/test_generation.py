import pytest

from sdprune.evaluation.generation import GenerationSettings, generate_images, partial_dir

PROMPTS = ["A dog in a field", "A treehouse at night", "An ocean sunset", "The Eiffel Tower", "A red bus"]


class Interrupt(Exception):
    pass


def test_resumed_generation_is_byte_identical(tiny_pipe, tmp_path):
    settings = GenerationSettings(num_steps=3, batch_size=2, seed=7)
    straight = generate_images(tiny_pipe, PROMPTS, tmp_path / "straight", settings)

    def crash_after_first_batch(last_index):
        raise Interrupt

    with pytest.raises(Interrupt):
        generate_images(tiny_pipe, PROMPTS, tmp_path / "resumed", settings, on_batch_done=crash_after_first_batch)
    # Nothing that looks finished: only the partial folder, holding the first batch.
    assert not (tmp_path / "resumed").exists()
    assert sorted(p.name for p in partial_dir(tmp_path / "resumed").glob("*.png")) == ["000000.png", "000001.png"]

    resumed = generate_images(tiny_pipe, PROMPTS, tmp_path / "resumed", settings)
    assert resumed["batches_generated_this_run"] == 2  # of 3: the first was kept
    assert not partial_dir(tmp_path / "resumed").exists()
    for item in straight["images"]:
        assert (tmp_path / "straight" / item["file"]).read_bytes() == (tmp_path / "resumed" / item["file"]).read_bytes()


def test_seeds_depend_on_base_seed_and_index_only(tiny_pipe, tmp_path):
    a = generate_images(tiny_pipe, PROMPTS[:2], tmp_path / "a", GenerationSettings(num_steps=2, batch_size=1, seed=3))
    b = generate_images(tiny_pipe, PROMPTS, tmp_path / "b", GenerationSettings(num_steps=2, batch_size=2, seed=3))
    c = generate_images(tiny_pipe, PROMPTS[:2], tmp_path / "c", GenerationSettings(num_steps=2, batch_size=1, seed=4))
    assert [i["seed"] for i in a["images"]] == [i["seed"] for i in b["images"][:2]]
    assert len({i["seed"] for i in b["images"]}) == len(PROMPTS)
    assert a["images"][0]["seed"] != c["images"][0]["seed"]
    assert (tmp_path / "a" / "000000.png").read_bytes() != (tmp_path / "c" / "000000.png").read_bytes()


def test_a_named_scheduler_replaces_the_models_own(tiny_pipe, tmp_path):
    manifest = generate_images(tiny_pipe, PROMPTS[:1], tmp_path / "x",
                               GenerationSettings(num_steps=2, scheduler="EulerDiscreteScheduler"))
    assert manifest["scheduler_class"] == "EulerDiscreteScheduler"
    with pytest.raises(ValueError, match="unknown diffusers scheduler"):
        generate_images(tiny_pipe, PROMPTS[:1], tmp_path / "y", GenerationSettings(scheduler="NoSuchScheduler"))
