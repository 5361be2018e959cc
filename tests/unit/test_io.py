import os

import pytest
import torch

from sdprune.io import atomic_directory, atomic_path, discard_temporaries, load_tensors, save_tensors, write_json


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    with pytest.raises(RuntimeError, match="crash"):
        with atomic_path(tmp_path / "out.json") as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []


def test_atomic_directory_appears_whole_or_not_at_all(tmp_path):
    with pytest.raises(RuntimeError, match="crash"):
        with atomic_directory(tmp_path / "d") as tmp:
            (tmp / "a").write_text("1")
            raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []
    with atomic_directory(tmp_path / "d") as tmp:
        (tmp / "a").write_text("1")
    assert (tmp_path / "d" / "a").read_text() == "1"


def test_outputs_get_ordinary_permissions(tmp_path):
    mask = os.umask(0o022)
    try:
        write_json(tmp_path / "x.json", {"a": 1})
        with atomic_directory(tmp_path / "d"):
            pass
    finally:
        os.umask(mask)
    assert (tmp_path / "x.json").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "d").stat().st_mode & 0o777 == 0o755


def test_tensors_round_trip_with_metadata(tmp_path):
    from sdprune.io import read_tensor_metadata

    save_tensors(tmp_path / "t.safetensors", {"a": torch.arange(6).reshape(2, 3)}, {"kind": "test"})
    assert torch.equal(load_tensors(tmp_path / "t.safetensors")["a"], torch.arange(6).reshape(2, 3))
    assert read_tensor_metadata(tmp_path / "t.safetensors") == {"kind": "test"}


def test_the_same_tensors_and_metadata_give_the_same_bytes_in_every_process(tmp_path):
    """safetensors orders metadata by a per-process hash; artifacts must not differ run to run."""
    import subprocess
    import sys

    script = ("import sys, torch; from sdprune.io import save_tensors; "
              "save_tensors(sys.argv[1], {'w': torch.ones(4)}, {k: 'v' + k for k in 'abcdefghij'})")
    files = [tmp_path / f"{i}.safetensors" for i in range(3)]
    for path in files:
        subprocess.run([sys.executable, "-c", script, str(path)], check=True)
    contents = {path.read_bytes() for path in files}
    assert len(contents) == 1
    assert b'"__metadata__":{"a":"va","b":"vb","c":"vc"' in contents.pop()


def test_a_file_written_without_a_digest_still_loads(tmp_path):
    """Files from other tools (open_clip's weights, older artifacts) have no digest to check."""
    from safetensors.torch import save_file

    save_file({"a": torch.arange(4.0)}, str(tmp_path / "plain.safetensors"), metadata={"kind": "plain"})
    assert torch.equal(load_tensors(tmp_path / "plain.safetensors")["a"], torch.arange(4.0))


def test_a_changed_tensor_fails_its_digest(tmp_path):
    from sdprune.io import CorruptFileError

    path = tmp_path / "t.safetensors"
    save_tensors(path, {"a": torch.zeros(4)})
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01  # the last float's top byte: still a valid file, a different tensor
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match="do not match the digest"):
        load_tensors(path)


def test_corrupt_file_error_is_one_line_with_the_path_first(tmp_path):
    from sdprune.io import CorruptFileError, read_json

    (tmp_path / "r.json").write_text('{"fid": 1')
    with pytest.raises(CorruptFileError) as caught:
        read_json(tmp_path / "r.json")
    assert str(caught.value).startswith(f"{tmp_path / 'r.json'}: not valid JSON")
    assert caught.value.path == tmp_path / "r.json" and "\n" not in str(caught.value)


def test_a_killed_writers_temporaries_are_discarded_and_nothing_else(tmp_path):
    """SIGKILL between writing the temporary and renaming it leaves `.<name>.<8 chars><suffix>`; the next
    write of a directory removes its own, `discard_temporaries` every one in a folder."""
    (tmp_path / ".000001.png.ab_cd123.png").write_text("half")
    (tmp_path / ".manifest.json.k2l3m4n5.json").write_text("half")
    (tmp_path / ".images.x1y2z3w4").mkdir()
    (tmp_path / ".images.x1y2z3w4" / "000000.png").write_bytes(b"half")
    keep = ["000000.png", ".keep.json.other.json", "out.json.ab_cd123.json"]  # not a temporary's name
    for name in keep:
        (tmp_path / name).write_text("someone else's")
    with atomic_directory(tmp_path / "images"):
        pass
    assert not (tmp_path / ".images.x1y2z3w4").exists()
    assert discard_temporaries(tmp_path) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(keep + ["images"])
