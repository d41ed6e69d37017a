"""A real HTTP receiver on loopback, for webhooks and notifications: each path answers as the
test says (approve, refuse, hang, garbage, redirect) and every request is recorded with its
headers and body."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

APPROVE, REFUSE, HANG, GARBAGE, REDIRECT = "approve", "refuse", "hang", "garbage", "redirect"


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    raw: bytes

    @property
    def body(self) -> Any:
        return json.loads(self.raw)


class Receiver:
    """`answers[path]` says how a POST to that path is answered (default: approve)."""

    def __init__(self) -> None:
        self.answers: dict[str, str] = {}
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                path = self.path
                with receiver._lock:
                    receiver.received.append(Received(path, dict(self.headers), raw))
                    answer = receiver.answers.get(path, APPROVE)
                if answer == HANG:
                    receiver._stop.wait(120)
                    return
                if answer == GARBAGE:
                    self.wfile.write(b"\x00\xff not http at all \r\n\r\n")
                    return
                status = {APPROVE: 200, REFUSE: 403, REDIRECT: 302}[answer]
                text = {APPROVE: b"ok", REFUSE: b"change not approved", REDIRECT: b""}[answer]
                self.send_response(status)
                if answer == REDIRECT:
                    self.send_header("Location", "http://127.0.0.1:1/elsewhere")
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def calls(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()
