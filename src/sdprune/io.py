"""Atomic file output, and readers that name the file they cannot read.

Every artifact is written to a temporary sibling and renamed into place, so an
interrupted job never leaves a file (or directory) that looks finished. Every
reader turns a parser's failure (a truncated safetensors file, a broken PNG, half
a JSON record) into one `CorruptFileError` line: "<path>: what is wrong". A
safetensors file written here also records a digest of its tensors and metadata,
checked on reading, so a flipped byte in its data is an error, not a wrong result.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator, Mapping

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

DIGEST_KEY = "sdprune_digest"  # safetensors metadata: sha256 of the other metadata and every tensor


class CorruptFileError(ValueError):
    """A file that exists but cannot be what it claims to be; its message is one line."""

    def __init__(self, path: str | os.PathLike, what: str) -> None:
        self.path, self.what = Path(path), what
        super().__init__(f"{path}: {what}")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _default_permissions(path: Path, directory: bool = False) -> None:
    """mkstemp/mkdtemp create private (0600/0700) entries; give them the usual umask permissions."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


def _remove_stale_temporaries(final: Path, suffix: str) -> None:
    """Remove what an earlier writer of ``final`` left when it was killed (SIGKILL, power loss) between
    making its temporary and renaming it: nothing else would ever remove it, and a folder that holds
    it (a generation's `.partial`) would carry it into its final place. Only the names mkstemp/mkdtemp
    give for this very file (prefix, 8 random characters, suffix) are touched."""
    stale = re.compile(rf"\.{re.escape(final.name)}\.[a-z0-9_]{{8}}{re.escape(suffix)}")
    for entry in final.parent.glob(f".{glob.escape(final.name)}.*"):
        if stale.fullmatch(entry.name):
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink(missing_ok=True)


def discard_temporaries(folder: str | os.PathLike) -> int:
    """Remove every temporary that killed atomic writers left in ``folder`` (hidden `.<name>.<8 chars>...`
    entries); returns how many. Only for a folder one job writes to, before it writes: a live writer's
    temporary looks the same."""
    leftover = re.compile(r"\..+\.[a-z0-9_]{8}(\.[^.]*)?")
    removed = 0
    for entry in Path(folder).iterdir():
        if leftover.fullmatch(entry.name):
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink(missing_ok=True)
            removed += 1
    return removed


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it into place on success.

    The temporary name keeps ``suffix`` so libraries that dispatch on the
    extension (PIL, pandas) still see the right one.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    # No scan for an earlier writer's leftovers here: listing the folder at every write is quadratic in a
    # generation's 10,000 images. A folder that becomes a final one is cleaned once (`discard_temporaries`).
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=suffix or final.suffix, dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        _default_permissions(tmp)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; swap it into place on success."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(final, "")
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        yield tmp
        _default_permissions(tmp, directory=True)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    data = Path(path).read_bytes()
    if not data:
        raise CorruptFileError(path, "empty file where a JSON record was expected")
    try:
        return json.loads(data.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CorruptFileError(path, f"not valid JSON (truncated or corrupt: {error})") from None


def save_tensors(
    path: str | os.PathLike,
    tensors: Mapping[str, torch.Tensor],
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Save tensors with safetensors, atomically. Tensors are made contiguous on CPU.

    The same tensors and metadata give the same bytes: the metadata is written in sorted order.
    """
    cpu = {name: t.detach().to("cpu").contiguous() for name, t in tensors.items()}
    metadata = dict(metadata or {})
    metadata[DIGEST_KEY] = _digest(cpu, metadata)
    with atomic_path(path) as tmp:
        try:
            save_file(cpu, str(tmp), metadata=metadata)
        except SafetensorError as error:  # a failed write (disk full) as the OSError it is, not a parser error
            code = re.search(r"os error (\d+)", str(error))
            raise OSError(int(code.group(1)) if code else errno.EIO, f"writing failed ({error})", str(path)) from None
        _sort_metadata_in_header(tmp)


def _sort_metadata_in_header(path: Path) -> None:
    """safetensors writes `__metadata__` from a hash map, in an order that changes from process to
    process; rewrite it sorted, in place (same keys and values: the header keeps its length)."""
    with open(path, "r+b") as handle:
        size = int.from_bytes(handle.read(8), "little")
        header = json.loads(handle.read(size))
        if "__metadata__" not in header:
            return
        header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
        text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
        if len(text) > size:  # never expected: the same content cannot grow
            raise ValueError(f"{path}: sorted safetensors header is longer than the original")
        handle.seek(8)
        handle.write(text.ljust(size, b" "))


def _digest(tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str]) -> str:
    digest = hashlib.sha256(canonical_json({k: v for k, v in metadata.items() if k != DIGEST_KEY}).encode())
    for name in sorted(tensors):
        tensor = tensors[name].contiguous()
        digest.update(f"\n{name}|{tensor.dtype}|{list(tensor.shape)}\n".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy())  # raw bytes of any dtype, no copy
    return digest.hexdigest()


def load_tensors(path: str | os.PathLike, device: str = "cpu") -> dict[str, torch.Tensor]:
    """Every tensor of a safetensors file; `CorruptFileError` if it is truncated, corrupt or fails its digest."""
    header = _safetensors_header(path)
    try:
        tensors = load_file(str(path), device="cpu")
    except (SafetensorError, ValueError, RuntimeError) as error:
        raise CorruptFileError(path, f"unreadable safetensors file ({error})") from None
    metadata = header.get("__metadata__") or {}
    if DIGEST_KEY in metadata and _digest(tensors, metadata) != metadata[DIGEST_KEY]:
        raise CorruptFileError(path, "corrupt safetensors file (its tensors or metadata do not match "
                                     "the digest written with them)")
    return tensors if device == "cpu" else {name: t.to(device) for name, t in tensors.items()}


def read_tensor_metadata(path: str | os.PathLike) -> dict[str, str]:
    metadata = dict(_safetensors_header(path).get("__metadata__") or {})
    metadata.pop(DIGEST_KEY, None)
    return metadata


def _safetensors_header(path: str | os.PathLike) -> dict:
    """The parsed header of a safetensors file, after checking that the file is as long as it says."""
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        length = int.from_bytes(handle.read(8), "little")
        if size < 8:
            raise CorruptFileError(path, f"truncated safetensors file ({size} bytes, less than its 8-byte length field)")
        if length > size - 8:
            raise CorruptFileError(path, f"truncated or corrupt safetensors file (header length says {length} bytes, "
                                         f"file has {size - 8} after the length field)")
        raw = handle.read(length)
    try:
        header = json.loads(raw)
        expected = 8 + length + max((int(entry["data_offsets"][1]) for key, entry in header.items()
                                     if key != "__metadata__"), default=0)
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError, KeyError, IndexError, AttributeError,
            ValueError) as error:
        raise CorruptFileError(path, f"corrupt safetensors header ({type(error).__name__}: {error})") from None
    if expected != size:
        state = "truncated" if expected > size else "corrupt"
        raise CorruptFileError(path, f"{state} safetensors file (its header describes {expected} bytes, file has {size})")
    return header


@contextlib.contextmanager
def _image_errors(path: str | os.PathLike) -> Iterator[None]:
    """PIL's many ways of saying a file is broken, as one `CorruptFileError` (a missing file stays missing)."""
    from PIL import UnidentifiedImageError

    try:
        yield
    except FileNotFoundError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise CorruptFileError(path, f"unreadable image ({error})") from None


def read_image(path: str | os.PathLike):
    """The image at ``path``, decoded (a PIL image, its ``format`` kept); `CorruptFileError` if it is
    truncated or fails a checksum (PNG's per-chunk CRCs are checked before decoding)."""
    from PIL import Image

    with _image_errors(path):
        with Image.open(path) as image:
            image.verify()  # checksums; leaves the image unusable, so it is opened again
        with Image.open(path) as image:
            image.load()
    return image


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) of an image after checking its checksums, without decoding its pixels."""
    from PIL import Image

    with _image_errors(path), Image.open(path) as image:
        size = image.size
        image.verify()
    return size


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, torch.Tensor) and obj.numel() == 1:
        return obj.item()
    if hasattr(obj, "item"):  # numpy scalars
        return obj.item()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def canonical_json(obj: Any) -> str:
    """One line of JSON with sorted keys: the form in which records are compared and stored as metadata."""
    return json.dumps(obj, sort_keys=True, default=_json_default)
