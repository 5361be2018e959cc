"""The rehearsal runs every preset and refuses to start without ImageReward's environment."""

from pathlib import Path

from sdprune.rehearsal.run import PRESETS, rehearse
from sdprune.rehearsal.sources import VENV_TARGET


def test_both_presets_are_rehearsed_into_their_own_scaled_configs():
    assert list(PRESETS) == ["config.yaml", "config/obs-diff-sd21base.yaml"]
    assert len(set(PRESETS.values())) == 2 and all(Path(p).exists() for p in PRESETS)


def test_without_imagerewards_python_it_fails_naming_the_make_target_and_builds_nothing(tmp_path, capsys):
    for python in (None, tmp_path / "absent" / "python"):
        assert rehearse(Path.cwd(), tmp_path / "work", image_reward_python=python) != 0
        assert VENV_TARGET in capsys.readouterr().out
    assert not (tmp_path / "work").exists()
