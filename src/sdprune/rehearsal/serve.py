"""A static file server on 127.0.0.1, standing in for the COCO and GitHub-release download servers."""

from __future__ import annotations

import functools
import logging
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

log = logging.getLogger(__name__)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
        log.debug("%s %s", self.address_string(), format % args)


class StaticServer:
    """Serve ``root`` read-only on 127.0.0.1 (a free port) from a daemon thread; a context manager."""

    def __init__(self, root: str | Path, handler: type[SimpleHTTPRequestHandler] = _QuietHandler):
        self.root = Path(root)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(self.root)))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "StaticServer":
        self._thread.start()
        log.info("serving %s at %s", self.root, self.url)
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
