"""Downloads that are verified before they count: atomic, size-checked, MD5-checked, with a progress bar."""

from __future__ import annotations

import hashlib
import logging
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

from sdprune.io import atomic_path

log = logging.getLogger(__name__)


def md5sum(path: str | Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def download(url: str, target: str | Path, *, md5: str | None = None, size: int | None = None) -> Path:
    """Download ``url`` to ``target`` atomically, with a progress bar; verify its MD5."""
    target = Path(target)
    if target.exists() and md5 and md5sum(target) == md5:
        log.info("%s already present and verified", target)
        return target
    with atomic_path(target) as tmp:
        with urllib.request.urlopen(url) as response, open(tmp, "wb") as out:
            total = int(response.headers.get("Content-Length") or size or 0)
            with tqdm(total=total, unit="B", unit_scale=True, desc=target.name) as bar:
                for block in iter(lambda: response.read(1 << 20), b""):
                    out.write(block)
                    bar.update(len(block))
        received = tmp.stat().st_size
        if total and received != total:  # a dropped connection can end the stream early without an error
            raise IOError(f"{url}: received {received} of {total} bytes; the download was cut short")
        if md5:
            actual = md5sum(tmp)
            if actual != md5:
                raise IOError(f"{url}: MD5 {actual} does not match the published {md5}")
    return target
