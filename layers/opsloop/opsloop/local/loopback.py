"""The small HTTP server both local stand-ins (Slack, Confluence) run on: 127.0.0.1, a free port, a
background thread, and a stop() that returns quickly."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class LoopbackServer:
    """Mix-in: ``_serve(handler, path, name)`` starts listening and returns the base URL; ``stop()`` ends it."""

    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def _serve(self, handler: type[BaseHTTPRequestHandler], path: str, name: str) -> str:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        # a short poll interval keeps stop() quick (serve_forever checks for shutdown once per interval)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=name, daemon=True)
        self._thread.start()
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{path}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def start(self) -> str:  # pragma: no cover - each stand-in defines it
        raise NotImplementedError

    def __enter__(self) -> Any:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
