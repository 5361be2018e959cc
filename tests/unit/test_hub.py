"""The Hugging Face Hub stand-in: the unchanged client calls, each in a child process, against tiny repos."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from sdprune.rehearsal.hub import HubError, HubServer, byte_range, hub_environment

SD = "stabilityai/stable-diffusion-2"
DATASET = "visheratin/laion-coco-nllb"
CLIP = "timm/vit_base_patch32_clip_224.openai"
CAPTIONS = [f"caption {i}: a {colour} square" for i, colour in enumerate(["red", "green", "blue", "grey"] * 5)]


@pytest.fixture(scope="module")
def hub_root(tmp_path_factory) -> Path:
    """A served folder with a tiny SD pipeline, a parquet dataset and an open_clip weights file."""
    import pandas as pd
    import torch
    from safetensors.torch import save_file

    from sdprune.models.build import build_pipeline

    root = tmp_path_factory.mktemp("hub")
    build_pipeline("tiny", seed=0, dtype=torch.float32).save_pretrained(root / "models" / SD, safe_serialization=True)
    data = root / "datasets" / DATASET / "data"
    data.mkdir(parents=True)
    captions = pd.DataFrame({"id": range(len(CAPTIONS)), "eng_caption": CAPTIONS})
    captions.to_parquet(data / "train-00000-of-00001.parquet")
    (data.parent / "README.md").write_text("---\nlicense: cc-by-nc-4.0\n---\n# A stand-in\n")
    clip = root / "models" / CLIP
    clip.mkdir(parents=True)
    save_file({"w": torch.arange(6.0).reshape(2, 3)}, clip / "open_clip_model.safetensors")
    (clip / "open_clip_config.json").write_text(json.dumps({"model_cfg": {"embed_dim": 2}}))
    return root


@pytest.fixture(scope="module")
def hub(hub_root):
    with HubServer(hub_root) as server:
        yield server


def run_client(hub_url: str, home: Path, code: str) -> dict:
    """Run ``code`` in a fresh interpreter with the hub environment; it prints one JSON line last."""
    # An inherited offline switch must not win over the hub environment.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **hub_environment(hub_url, home)}
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def sha_of(hub: HubServer, kind: str, repo_id: str) -> str:
    return hub.store.repo(kind, repo_id).sha


def test_pipeline_loads_with_the_served_weights(hub, hub_root, tmp_path):
    served = hub_root / "models" / SD / "unet" / "diffusion_pytorch_model.safetensors"
    out = run_client(hub.url, tmp_path / "hf", f"""
        import json, torch, diffusers
        from safetensors.torch import load_file
        pipe = diffusers.StableDiffusionPipeline.from_pretrained(
            "{SD}", revision=None, use_safetensors=True, safety_checker=None, requires_safety_checker=False,
            dtype=torch.float16)
        served = load_file("{served}")
        state = pipe.unet.state_dict()
        equal = sorted(served) == sorted(state) and all(torch.equal(served[k].half(), state[k]) for k in served)
        print(json.dumps({{"equal": equal, "n": len(served), "dtype": str(pipe.unet.dtype)}}))
    """)
    assert out["equal"] and out["n"] > 10 and out["dtype"] == "torch.float16"
    repo_cache = tmp_path / "hf" / "hub" / "models--stabilityai--stable-diffusion-2"
    sha = sha_of(hub, "model", SD)
    assert (repo_cache / "refs" / "main").read_text() == sha
    snapshot = repo_cache / "snapshots" / sha
    served_files = sorted(p.relative_to(hub_root / "models" / SD) for p in (hub_root / "models" / SD).rglob("*")
                          if p.is_file())
    assert sorted(p.relative_to(snapshot) for p in snapshot.rglob("*") if p.is_file()) == served_files
    assert (snapshot / "unet" / "diffusion_pytorch_model.safetensors").read_bytes() == served.read_bytes()
    # lfs files are cached under their sha256, the others under their git blob sha1, as from the real hub
    assert (repo_cache / "blobs" / hashlib.sha256(served.read_bytes()).hexdigest()).is_file()
    config = (hub_root / "models" / SD / "model_index.json").read_bytes()
    git_sha1 = hashlib.sha1(f"blob {len(config)}\0".encode() + config).hexdigest()
    assert (repo_cache / "blobs" / git_sha1).is_file()


@pytest.mark.parametrize("streaming", [True, False], ids=["streaming", "downloaded"])
def test_dataset_gives_the_served_captions_in_order(hub, tmp_path, streaming):
    out = run_client(hub.url, tmp_path / "hf", f"""
        import json, datasets
        ds = datasets.load_dataset("{DATASET}", split="train", streaming={streaming})
        print(json.dumps({{"captions": [row["eng_caption"] for row in ds]}}))
    """)
    assert out["captions"] == CAPTIONS
    if not streaming:
        snapshots = tmp_path / "hf" / "hub" / "datasets--visheratin--laion-coco-nllb" / "snapshots"
        assert [p.name for p in snapshots.iterdir()] == [sha_of(hub, "dataset", DATASET)]


def test_open_clip_downloads_its_safetensors(hub, hub_root, tmp_path):
    out = run_client(hub.url, tmp_path / "hf", f"""
        import json
        from open_clip.pretrained import download_pretrained_from_hf
        print(json.dumps({{"path": download_pretrained_from_hf("{CLIP}")}}))
    """)
    path = Path(out["path"])
    sha = sha_of(hub, "model", CLIP)
    assert path == tmp_path / "hf" / "hub" / "models--timm--vit_base_patch32_clip_224.openai" / "snapshots" / sha / \
        "open_clip_model.safetensors"
    assert path.read_bytes() == (hub_root / "models" / CLIP / "open_clip_model.safetensors").read_bytes()


def test_huggingface_hub_api_and_errors(hub_root, tmp_path):
    # Pages of two entries, so that every listing below follows the Link headers.
    with HubServer(hub_root, page_size=2) as small_pages:
        out = run_client(small_pages.url, tmp_path / "hf", f"""
            import json
            import huggingface_hub as hh
            from huggingface_hub import errors
            api = hh.HfApi()
            result = {{"snapshot": hh.snapshot_download("{SD}", allow_patterns=["unet/*", "*.json"])}}
            result["tree"] = sorted(f.path for f in api.list_repo_tree("{SD}", recursive=True)
                                    if isinstance(f, hh.hf_api.RepoFile))
            result["unet"] = sorted(f.path for f in api.list_repo_tree("{SD}", path_in_repo="unet", expand=True))
            info = api.get_paths_info("{SD}", ["unet", "unet/config.json", "nothing.txt"], expand=True)
            result["paths"] = [[type(f).__name__, f.path, f.last_commit is not None] for f in info]
            result["commit"] = api.list_repo_commits("{SD}")[0].commit_id
            result["branches"] = [(b.name, b.target_commit) for b in api.list_repo_refs("{SD}").branches]
            result["exists"] = [api.file_exists("{SD}", "unet/config.json"), api.file_exists("{SD}", "x.bin")]
            calls = {{
                "missing_repo": lambda: hh.snapshot_download("nobody/nothing"),
                "missing_repo_file": lambda: hh.hf_hub_download("nobody/nothing", "config.json"),
                "missing_file": lambda: hh.hf_hub_download("{SD}", "unet/nothing.bin"),
                "missing_revision": lambda: hh.hf_hub_download("{SD}", "model_index.json", revision="v9"),
                "dataset_as_model": lambda: hh.hf_hub_download("{DATASET}", "README.md"),
            }}
            for name, call in calls.items():
                try:
                    call()
                    result[name] = None
                except Exception as error:
                    result[name] = type(error).__name__
            print(json.dumps(result))
        """)
        sha = sha_of(small_pages, "model", SD)
    repo_cache = tmp_path / "hf" / "hub" / "models--stabilityai--stable-diffusion-2"
    assert Path(out["snapshot"]) == repo_cache / "snapshots" / sha
    served = sorted(p.relative_to(hub_root / "models" / SD).as_posix() for p in (hub_root / "models" / SD).rglob("*")
                    if p.is_file())
    assert out["tree"] == served
    assert sorted(p.relative_to(out["snapshot"]).as_posix() for p in Path(out["snapshot"]).rglob("*")
                  if p.is_file()) == [p for p in served if p.startswith("unet/") or p.endswith(".json")]
    assert out["unet"] == ["unet/config.json", "unet/diffusion_pytorch_model.safetensors"]
    assert out["paths"] == [["RepoFolder", "unet", True], ["RepoFile", "unet/config.json", True]]
    assert out["commit"] == sha and out["branches"] == [["main", sha]]
    assert out["exists"] == [True, False]
    assert out["missing_repo"] == out["missing_repo_file"] == out["dataset_as_model"] == "RepositoryNotFoundError"
    assert out["missing_file"] == "RemoteEntryNotFoundError"
    assert out["missing_revision"] == "RevisionNotFoundError"


def test_missing_dataset_raises_the_datasets_error(hub, tmp_path):
    out = run_client(hub.url, tmp_path / "hf", """
        import json, datasets
        try:
            datasets.load_dataset("nobody/nothing", split="train", streaming=True)
            print(json.dumps({"error": None}))
        except Exception as error:
            print(json.dumps({"error": type(error).__name__}))
    """)
    assert out["error"] == "DatasetNotFoundError"


def _request(url: str, method: str = "GET", headers: dict | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_resolve_headers_ranges_and_errors(hub, hub_root, caplog):
    path = f"{hub.url}/{CLIP}/resolve/main/open_clip_model.safetensors"
    content = (hub_root / "models" / CLIP / "open_clip_model.safetensors").read_bytes()
    with caplog.at_level(logging.INFO, logger="sdprune.rehearsal.hub"):
        status, headers, body = _request(path, "HEAD")
        assert (status, body) == (200, b"")
        assert headers["X-Repo-Commit"] == sha_of(hub, "model", CLIP)
        assert headers["ETag"] == headers["X-Linked-Etag"] == f'"{hashlib.sha256(content).hexdigest()}"'
        assert int(headers["Content-Length"]) == int(headers["X-Linked-Size"]) == len(content)
        assert not any(key.lower().startswith("x-xet") for key in headers)
        assert _request(path, headers={"Range": "bytes=2-5"})[::2] == (206, content[2:6])
        assert _request(path, headers={"Range": "bytes=-3"})[::2] == (206, content[-3:])
        status, headers, _ = _request(path, headers={"Range": f"bytes={len(content)}-"})
        assert (status, headers["Content-Range"]) == (416, f"bytes */{len(content)}")
        status, headers, _ = _request(f"{hub.url}/{CLIP}/resolve/main/nothing.bin", "HEAD")
        assert (status, headers["X-Error-Code"]) == (404, "EntryNotFound")
        status, headers, _ = _request(f"{hub.url}/api/models/nobody/nothing")
        assert (status, headers["X-Error-Code"]) == (404, "RepoNotFound")
        assert _request(f"{hub.url}/api/models/{SD}/tree/main?cursor=x")[0] == 400
        # names are plain segments: nothing outside the root is reachable
        assert _request(f"{hub.url}/api/models/..%2F..%2F/etc")[0] == 404
        escape = f"..%2F..%2F{DATASET.replace('/', '%2F')}%2FREADME.md"
        assert _request(f"{hub.url}/{CLIP}/resolve/main/{escape}")[0] == 404
    logged = [record.getMessage() for record in caplog.records]
    assert f"hub: HEAD /{CLIP}/resolve/main/open_clip_model.safetensors 200" in logged
    assert "hub: GET /api/models/nobody/nothing 404" in logged


def test_byte_range():
    assert byte_range(None, 10) is None
    assert byte_range("bytes=0-", 10) == (0, 10)
    assert byte_range("bytes=3-100", 10) == (3, 10)
    assert byte_range("bytes=-4", 10) == (6, 10)
    assert byte_range("bytes=0-1,4-5", 10) is None  # several ranges: the whole file
    with pytest.raises(HubError):
        byte_range("bytes=10-", 10)


def test_hub_environment(tmp_path):
    env = hub_environment("http://127.0.0.1:1234/", tmp_path)
    assert env["HF_ENDPOINT"] == "http://127.0.0.1:1234"
    assert env["HF_HOME"] == str(tmp_path) and env["HF_HUB_CACHE"] == str(tmp_path / "hub")
    assert env["HF_HUB_OFFLINE"] == "0" and env["HF_HUB_DISABLE_TELEMETRY"] == "1"
    assert env["HF_HUB_DISABLE_XET"] == "1"
    assert "127.0.0.1" in env["NO_PROXY"].split(",")
