"""A stand-in for the Hugging Face Hub on 127.0.0.1, serving repositories from a local folder.

The unchanged library calls of the workflow (``StableDiffusionPipeline.from_pretrained``,
``datasets.load_dataset``, open_clip's ``download_pretrained_from_hf``, ``snapshot_download``,
``hf_hub_download``, ``HfFileSystem``) work against it when the child process runs with
``hub_environment(url, fresh_home)``, i.e. ``HF_ENDPOINT`` pointing here and a fresh ``HF_HOME``.

Layout of the served folder ``ROOT``::

    ROOT/models/<org>/<name>/<files>     model repos
    ROOT/datasets/<org>/<name>/<files>   dataset repos
    ROOT/spaces/<org>/<name>/<files>     space repos

e.g. ``models/stabilityai/stable-diffusion-2/model_index.json`` (and its unet/, vae/, ... folders) or
``datasets/visheratin/laion-coco-nllb/data/train-00000-of-00001.parquet`` next to its README.md.

Only ``org/name`` ids are served (no legacy one-part ids such as ``gpt2``). A repo's files are read
from disk on every request, so it can be edited while served. Folders named ``.git`` and a top-level
``.cache`` (the bookkeeping of ``snapshot_download(local_dir=...)``) are not part of a repo.

Each repo has one branch, ``main``, whose fake commit sha is the sha1 of the repo's type, id and file
list with sizes: ``revision="main"`` and that sha both resolve to it (anything else answers
RevisionNotFound), and the client cache gets the real layout ``models--org--name/snapshots/<sha>/``.
As on the hub, git-lfs files (weights, parquet, archives, anything of 10 MiB or more) have their
content sha256 as ETag and cache blob name, the others their git blob sha1. Digests are computed once
per file version, in a background thread from the start, so the first HEAD on a multi-GB file does
not stall the client.

Endpoints (``{type}`` is models, datasets or spaces; ``{prefix}`` is empty, datasets/ or spaces/):

    GET       /api/{type}/{org}/{name}[/revision/{rev}]        repo info (sha, siblings; ?blobs=true adds sizes)
    GET       /api/{type}/{org}/{name}/tree/{rev}[/{path}]      tree listing (?recursive, ?expand, paged by
                                                                ?cursor with a ``Link: <...>; rel="next"`` header)
    POST      /api/{type}/{org}/{name}/paths-info/{rev}         info on the listed paths (form or JSON body)
    GET       /api/{type}/{org}/{name}/commits/{rev}            the single fake commit
    GET       /api/{type}/{org}/{name}/refs                     branches: main
    HEAD/GET  /{prefix}{org}/{name}/resolve/{rev}/{path}        the file: ETag, X-Repo-Commit, X-Linked-Etag and
                                                                X-Linked-Size (lfs files), Range requests (206/416)

No Xet headers are ever sent, so clients download over plain HTTP. Unknown repos, revisions and files
answer 404 with the hub's ``X-Error-Code`` (RepoNotFound, RevisionNotFound, EntryNotFound), so the
clients raise their usual errors. Each request is logged (method, path, status) at INFO.

``datasets.load_dataset`` also asks the dataset viewer for a parquet export, at the host it derives from
HF_ENDPOINT (``http://datasets-server.127.0.0.1:PORT/info``): that name does not resolve, the library
treats the failure as "no export" and reads the repo's own files, as wanted here.

Run by hand (serves until Ctrl-C)::

    python -m sdprune.rehearsal.hub ROOT [--port N]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import re
import socketserver
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

log = logging.getLogger(__name__)

KINDS = {"models": "model", "datasets": "dataset", "spaces": "space"}
# What the hub's default .gitattributes sends to git-lfs; bigger files go there anyway.
LFS_SUFFIXES = frozenset(".7z .arrow .bin .bz2 .ckpt .ftz .gz .h5 .joblib .mlmodel .model .msgpack .npy .npz .onnx "
                         ".ot .parquet .pb .pickle .pkl .pt .pth .rar .safetensors .tar .tflite .tgz .wasm .xz .zip "
                         ".zst".split())
LFS_MIN_SIZE = 10 * 1024 * 1024
PAGE_SIZE = 1000  # the hub's tree page size
EXPAND_PAGE_SIZE = 50  # ... and with expand=true
SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
API_ROUTE = re.compile(r"/api/(?P<kinds>models|datasets|spaces)/(?P<org>[^/]+)/(?P<name>[^/]+)"
                       r"(?:/(?P<op>revision|tree|paths-info|commits|refs)(?:/(?P<rev>[^/]+)(?P<path>/.*)?)?)?/?")
RESOLVE_ROUTE = re.compile(r"(?:/(?P<kinds>datasets|spaces))?/(?P<org>[^/]+)/(?P<name>[^/]+)"
                           r"/resolve/(?P<rev>[^/]+)/(?P<path>.+)")
RANGE = re.compile(r"bytes=(\d*)-(\d*)")
COMMIT_TITLE = "Served by sdprune.rehearsal.hub"


class HubError(Exception):
    """An error answer: status, the hub's X-Error-Code (None for a plain HTTP error), message, extra headers."""

    def __init__(self, status: int, code: str | None, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


# --- repositories on disk --------------------------------------------------------------------------


@dataclass(frozen=True)
class FileEntry:
    path: str  # posix path inside the repo
    local: Path
    size: int
    mtime_ns: int

    @property
    def is_lfs(self) -> bool:
        return Path(self.path).suffix.lower() in LFS_SUFFIXES or self.size >= LFS_MIN_SIZE


@dataclass(frozen=True)
class Digest:
    blob_id: str  # git blob sha1 (of the lfs pointer for lfs files): the tree's "oid"
    sha256: str | None = None  # content sha256, lfs files only
    pointer_size: int | None = None

    @property
    def etag(self) -> str:
        return self.sha256 or self.blob_id


@dataclass(frozen=True)
class Repo:
    kind: str  # model, dataset or space
    repo_id: str
    files: dict[str, FileEntry]  # sorted by path
    modified: float  # newest file mtime, reported as lastModified

    @cached_property  # a Repo is a snapshot taken per request: compute once, read many times
    def sha(self) -> str:
        listing = "".join(f"{path}\t{entry.size}\n" for path, entry in self.files.items())
        return hashlib.sha1(f"{self.kind}/{self.repo_id}\n{listing}".encode()).hexdigest()

    @cached_property
    def dirs(self) -> set[str]:
        return {parent for path in self.files for parent in _parents(path)}


def _parents(path: str) -> list[str]:
    parts = path.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def scan_repo(kind: str, repo_id: str, folder: Path) -> Repo:
    """The repo as it is on disk now (symlinks followed, so a big model can be linked rather than copied)."""
    files: dict[str, FileEntry] = {}
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if d != ".git" and not (here == folder and d == ".cache")]
        for filename in filenames:
            local = here / filename
            stat = local.stat()
            files[local.relative_to(folder).as_posix()] = FileEntry(
                local.relative_to(folder).as_posix(), local, stat.st_size, stat.st_mtime_ns)
    modified = max((entry.mtime_ns for entry in files.values()), default=folder.stat().st_mtime_ns) / 1e9
    return Repo(kind, repo_id, dict(sorted(files.items())), modified)


def compute_digest(entry: FileEntry) -> Digest:
    """The digests the hub reports: git blob sha1, and for lfs files the content sha256 and pointer."""
    if not entry.is_lfs:
        return Digest(_hash_file(hashlib.sha1(f"blob {entry.size}\0".encode()), entry.local))
    sha256 = _hash_file(hashlib.sha256(), entry.local)
    pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {entry.size}\n".encode()
    blob_id = hashlib.sha1(f"blob {len(pointer)}\0".encode() + pointer).hexdigest()
    return Digest(blob_id, sha256, len(pointer))


def _hash_file(digest, path: Path) -> str:
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class DigestCache:
    """Digests computed once per file version (path, size, mtime); threads wait for a file being hashed."""

    def __init__(self):
        self._lock = threading.Lock()
        self._digests: dict[tuple, Digest] = {}
        self._file_locks: dict[tuple, threading.Lock] = {}

    def get(self, entry: FileEntry) -> Digest:
        key = (str(entry.local), entry.size, entry.mtime_ns)
        with self._lock:
            file_lock = self._file_locks.setdefault(key, threading.Lock())
        with file_lock:
            with self._lock:
                if key in self._digests:
                    return self._digests[key]
            digest = compute_digest(entry)
            with self._lock:
                self._digests[key] = digest
        return digest


class HubStore:
    """The repos under ``root`` (see the module docstring for the layout)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.digests = DigestCache()

    def repo(self, kind: str, repo_id: str) -> Repo | None:
        org, _, name = repo_id.partition("/")
        # Only plain names: no "..", no separators, so a request cannot reach outside the root.
        if not (SEGMENT.fullmatch(org) and SEGMENT.fullmatch(name)):
            return None
        folder = self.root / f"{kind}s" / org / name
        return scan_repo(kind, repo_id, folder) if folder.is_dir() else None

    def repo_ids(self) -> list[tuple[str, str]]:
        """(kind, org/name) of every served repo."""
        found = []
        for kinds, kind in KINDS.items():
            for folder in sorted(self.root.glob(f"{kinds}/*/*")):
                if folder.is_dir():
                    found.append((kind, f"{folder.parent.name}/{folder.name}"))
        return found

    def prehash(self) -> None:
        """Digest every file now, so that no client request waits for a multi-GB hash."""
        try:
            for kind, repo_id in self.repo_ids():
                repo = self.repo(kind, repo_id)
                for entry in repo.files.values() if repo else ():
                    self.digests.get(entry)
        except OSError as error:  # an unreadable file: the request for it will answer the error
            log.warning("hub: could not digest every file of %s: %s", self.root, error)
        else:
            log.info("hub: digests of %s ready", self.root)


# --- JSON payloads -----------------------------------------------------------------------------------


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def commit_json(repo: Repo) -> dict:
    return {"id": repo.sha, "title": COMMIT_TITLE, "message": "", "authors": [{"user": "sdprune"}],
            "date": _iso(repo.modified)}


def info_json(repo: Repo, digests: DigestCache, blobs: bool) -> dict:
    """Repo info as /api/{type}/{repo}[/revision/{rev}] returns it; ``blobs`` adds sizes and digests."""
    siblings = []
    for entry in repo.files.values():
        sibling: dict = {"rfilename": entry.path}
        if blobs:
            digest = digests.get(entry)
            sibling.update(size=entry.size, blobId=digest.blob_id)
            if digest.sha256:
                sibling["lfs"] = {"size": entry.size, "sha256": digest.sha256, "pointerSize": digest.pointer_size}
        siblings.append(sibling)
    date = _iso(repo.modified)
    info = {"_id": repo.sha[:24], "id": repo.repo_id, "author": repo.repo_id.split("/")[0], "sha": repo.sha,
            "lastModified": date, "createdAt": date, "private": False, "gated": False, "disabled": False,
            "downloads": 0, "likes": 0, "tags": [], "siblings": siblings,
            "usedStorage": sum(entry.size for entry in repo.files.values())}
    if repo.kind == "model":
        info["modelId"] = repo.repo_id
    return info


def path_json(repo: Repo, path: str, digests: DigestCache, expand: bool) -> dict:
    """One tree / paths-info entry: a file (with lfs info) or a directory."""
    entry = repo.files.get(path)
    if entry is None:
        oid = hashlib.sha1(f"{repo.sha}:{path}".encode()).hexdigest()  # a stable stand-in for the git tree id
        info: dict = {"type": "directory", "oid": oid, "size": 0, "path": path}
    else:
        digest = digests.get(entry)
        info = {"type": "file", "oid": digest.blob_id, "size": entry.size, "path": path}
        if digest.sha256:
            info["lfs"] = {"oid": digest.sha256, "size": entry.size, "pointerSize": digest.pointer_size}
        if expand:
            info["securityFileStatus"] = {"status": "safe", "avScan": {"virusFound": False, "virusNames": None},
                                          "pickleImportScan": None}
    if expand:
        commit = commit_json(repo)
        info["lastCommit"] = {key: commit[key] for key in ("id", "title", "date")}
    return info


def tree_paths(repo: Repo, folder: str, recursive: bool) -> list[str]:
    """Paths (folders first, then files, as the hub lists them) under ``folder`` ("" is the root)."""
    if folder and folder not in repo.dirs:
        raise HubError(404, "EntryNotFound", f"{folder} is not a folder of {repo.repo_id}")
    prefix = f"{folder}/" if folder else ""

    def listed(path: str) -> bool:
        return path.startswith(prefix) and (recursive or "/" not in path[len(prefix):])

    return sorted(p for p in repo.dirs if listed(p)) + [p for p in repo.files if listed(p)]


def refs_json(repo: Repo) -> dict:
    main = {"name": "main", "ref": "refs/heads/main", "targetCommit": repo.sha}
    return {"branches": [main], "converts": [], "tags": [], "pullRequests": []}


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, stop) asked for by a single-range Range header; None means the whole file.

    Multi-range or other units get the whole file (200), which RFC 9110 allows and clients handle.
    """
    match = RANGE.fullmatch(header.strip()) if header else None
    if match is None or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if not first:  # suffix range: the last N bytes
        start, stop = max(size - int(last), 0), size
    else:
        start, stop = int(first), min(int(last) + 1, size) if last else size
    if start >= stop:
        raise HubError(416, None, f"range {header} not satisfiable", {"Content-Range": f"bytes */{size}"})
    return start, stop


# --- HTTP ------------------------------------------------------------------------------------------


class HubHandler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps the clients' connections open between their many small requests.
    protocol_version = "HTTP/1.1"
    server: "_HubHTTPServer"

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        # Read a request body first, even one we refuse, or it would be taken for the next request.
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        url = urlsplit(self.path)
        try:
            if (match := API_ROUTE.fullmatch(url.path)) is not None:
                self._api(match, parse_qs(url.query), body)
            elif (match := RESOLVE_ROUTE.fullmatch(url.path)) is not None and self.command in ("GET", "HEAD"):
                self._resolve(match)
            else:
                raise HubError(404, None, f"no route for {self.command} {url.path}")
        except HubError as error:
            self._send_error(error)
        except ValueError as error:  # a malformed cursor, form or JSON body
            self._send_error(HubError(400, None, f"bad request: {error}"))
        except (BrokenPipeError, ConnectionResetError):  # the client stopped reading (e.g. a streamed read)
            self.close_connection = True
            log.debug("hub: client left during %s %s", self.command, self.path)

    def _lookup(self, match: re.Match, revision: str | None) -> Repo:
        """The repo named in the url; 404 RepoNotFound / RevisionNotFound as the hub answers."""
        kind = KINDS[match["kinds"] or "models"]
        repo_id = f"{unquote(match['org'])}/{unquote(match['name'])}"
        repo = self.server.store.repo(kind, repo_id)
        if repo is None:
            raise HubError(404, "RepoNotFound", f"Repository not found: {kind} {repo_id}")
        if revision is not None and revision not in ("main", repo.sha):
            raise HubError(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        return repo

    def _api(self, match: re.Match, query: dict[str, list[str]], body: bytes) -> None:
        op = match["op"] or "revision"
        if self.command != ("POST" if op == "paths-info" else "GET"):
            raise HubError(405, None, f"{self.command} not allowed on {op}")
        revision = unquote(match["rev"]) if match["rev"] else None
        if op != "refs" and revision is None and match["op"] is not None:
            raise HubError(404, None, f"{op} needs a revision")
        repo = self._lookup(match, revision)
        digests = self.server.store.digests
        if op == "revision":
            self._send_json(info_json(repo, digests, _flag(query, "blobs")))
        elif op == "tree":
            self._tree(repo, unquote(match["path"] or "").strip("/"), query)
        elif op == "paths-info":
            paths, expand = _paths_request(body, self.headers.get("Content-Type", ""))
            known = [p for p in paths if p in repo.files or p in repo.dirs]
            self._send_json([path_json(repo, p, digests, expand) for p in known])
        elif op == "commits":
            self._send_json([commit_json(repo)])
        else:
            self._send_json(refs_json(repo))

    def _tree(self, repo: Repo, folder: str, query: dict[str, list[str]]) -> None:
        """One page of a tree listing, with a Link header to the next one as the hub pages."""
        expand = _flag(query, "expand")
        paths = tree_paths(repo, folder, _flag(query, "recursive"))
        limit = min(self.server.page_size, EXPAND_PAGE_SIZE) if expand else self.server.page_size
        start = int((query.get("cursor") or ["0"])[0] or 0)  # our cursor is a plain offset
        headers = {}
        if start + limit < len(paths):
            next_query = urlencode({**{k: v[-1] for k, v in query.items()}, "cursor": start + limit})
            headers["Link"] = f'<{self.server.url}{urlsplit(self.path).path}?{next_query}>; rel="next"'
        page = [path_json(repo, p, self.server.store.digests, expand) for p in paths[start:start + limit]]
        self._send_json(page, headers=headers)

    def _resolve(self, match: re.Match) -> None:
        """A file, whole or a byte range, with the headers hf_hub_download reads from the HEAD answer."""
        revision = unquote(match["rev"])
        repo = self._lookup(match, revision)
        path = unquote(match["path"])
        entry = repo.files.get(path)
        if entry is None:
            # X-Repo-Commit lets the client cache the file's absence (.no_exist/<sha>/...).
            raise HubError(404, "EntryNotFound", f"{path} does not exist on {revision}", {"X-Repo-Commit": repo.sha})
        digest = self.server.store.digests.get(entry)
        span = byte_range(self.headers.get("Range"), entry.size)
        start, stop = span or (0, entry.size)
        self.send_response(206 if span else 200)
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(stop - start),
                   "Accept-Ranges": "bytes", "ETag": f'"{digest.etag}"', "X-Repo-Commit": repo.sha,
                   "Content-Disposition": f'inline; filename="{Path(path).name}"'}
        if digest.sha256:
            headers.update({"X-Linked-Etag": f'"{digest.sha256}"', "X-Linked-Size": str(entry.size)})
        if span:
            headers["Content-Range"] = f"bytes {start}-{stop - 1}/{entry.size}"
        self._end_headers(headers)
        if self.command == "GET" and stop > start:
            with open(entry.local, "rb") as stream:
                sent = self.connection.sendfile(stream, start, stop - start)
            if sent != stop - start:  # the file shrank meanwhile: the client's size check will say so
                self.close_connection = True

    def _end_headers(self, headers: dict[str, str]) -> None:
        for key, value in headers.items():
            # http.server writes headers as latin-1: escape anything else rather than fail mid-answer.
            self.send_header(key, value.encode("latin-1", "backslashreplace").decode("latin-1"))
        self.end_headers()

    def _send_json(self, payload, status: int = 200, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self._end_headers({"Content-Type": "application/json; charset=utf-8", "Content-Length": str(len(data)),
                           **(headers or {})})
        if self.command != "HEAD":
            self.wfile.write(data)

    def _send_error(self, error: HubError) -> None:
        headers = {"X-Error-Message": error.message, **error.headers}
        if error.code:
            headers["X-Error-Code"] = error.code
        self._send_json({"error": error.message}, error.status, headers)

    def log_request(self, code="-", size="-") -> None:
        log.info("hub: %s %s %s", self.command, self.path, int(code) if isinstance(code, int) else code)

    def log_error(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
        log.warning("hub: %s", format % args)

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        log.debug("hub: %s", format % args)


def _flag(query: dict[str, list[str]], name: str) -> bool:
    return (query.get(name) or ["false"])[-1].lower() in ("1", "true")


def _paths_request(body: bytes, content_type: str) -> tuple[list[str], bool]:
    """(paths, expand) of a paths-info request: huggingface_hub posts a form, other clients JSON."""
    if "json" in content_type:
        request = json.loads(body or b"{}")
        paths, expand = request.get("paths", []), str(request.get("expand", False))
    else:
        form = parse_qs(body.decode())
        paths, expand = form.get("paths", []), (form.get("expand") or ["false"])[-1]
    paths = [paths] if isinstance(paths, str) else paths
    return [p.strip("/") for p in paths], expand.lower() in ("1", "true")


class _HubHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], store: HubStore, page_size: int):
        super().__init__(address, HubHandler)
        self.store, self.page_size = store, page_size
        host, port = self.server_address[:2]
        self.url = f"http://{host}:{port}"

    def handle_error(self, request, client_address) -> None:
        # socketserver would print the traceback to stderr: keep it in the log.
        log.exception("hub: error while answering %s", client_address[0])

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN, which stalls where reverse DNS is slow.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


class HubServer:
    """The hub stand-in for ``root``, on 127.0.0.1 (``port`` 0: a free one) in a daemon thread.

    A context manager: ``with HubServer(root) as hub: ... hub.url ...``. ``page_size`` shrinks the tree
    pages (to test paging); ``prehash`` digests every file in the background from the start.
    """

    def __init__(self, root: str | Path, *, port: int = 0, page_size: int = PAGE_SIZE, prehash: bool = True):
        self.root = Path(root)
        self.store = HubStore(self.root)
        self._server = _HubHTTPServer(("127.0.0.1", port), self.store, page_size)
        self._thread = threading.Thread(target=self._server.serve_forever, name="hub-server", daemon=True)
        self._prehash = prehash

    @property
    def url(self) -> str:
        return self._server.url

    def __enter__(self) -> "HubServer":
        self._thread.start()
        if self._prehash:
            threading.Thread(target=self.store.prehash, name="hub-prehash", daemon=True).start()
        log.info("hub: serving %s at %s (%d repos)", self.root, self.url, len(self.store.repo_ids()))
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def hub_environment(url: str, home: str | Path) -> dict[str, str]:
    """The environment variables a child process needs to use the hub at ``url`` with the cache ``home``.

    Merge them over the parent's environment. Every cache path is set from ``home``, since an inherited
    HF_HUB_CACHE or HF_DATASETS_CACHE would take precedence over HF_HOME, and the offline switches are
    set to "0" (which all the libraries read as off), since a dict cannot unset inherited ones.
    """
    from huggingface_hub import constants

    home = Path(home)
    local = "127.0.0.1,localhost"
    no_proxy = ",".join(filter(None, [os.environ.get("NO_PROXY") or os.environ.get("no_proxy"), local]))
    env = {
        "HF_ENDPOINT": url.rstrip("/"),
        "HF_HOME": str(home),
        "HF_HUB_CACHE": str(home / "hub"),
        "HF_ASSETS_CACHE": str(home / "assets"),
        "HF_DATASETS_CACHE": str(home / "datasets"),
        "HF_XET_CACHE": str(home / "xet"),
        "HF_TOKEN_PATH": str(home / "token"),
        "HF_HUB_OFFLINE": "0",
        "HF_DATASETS_OFFLINE": "0",
        "TRANSFORMERS_OFFLINE": "0",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",  # never send the user's real token to the stand-in
        # The first HEAD or tree listing of a multi-GB repo may wait for its digests (default limit 10 s).
        "HF_HUB_ETAG_TIMEOUT": "120",
        "HF_HUB_DOWNLOAD_TIMEOUT": "120",
        # A proxy in the parent's environment must not be asked for 127.0.0.1.
        "NO_PROXY": no_proxy,
        "no_proxy": no_proxy,
    }
    if hasattr(constants, "HF_HUB_DISABLE_XET"):  # huggingface_hub >= 0.32: keep to plain HTTP downloads
        env["HF_HUB_DISABLE_XET"] = "1"
    return env


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sdprune.rehearsal.hub", description=__doc__.split("\n")[0])
    parser.add_argument("root", type=Path, help="folder with models/<org>/<name>/ and datasets/<org>/<name>/")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with HubServer(args.root, port=args.port) as hub:
        log.info("set HF_ENDPOINT=%s (and a fresh HF_HOME) in the client; Ctrl-C stops", hub.url)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            log.info("hub: stopped")


if __name__ == "__main__":
    main()
