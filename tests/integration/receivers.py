"""Real receivers on loopback, for webhooks and notifications: an HTTP server whose paths
answer as the test says (approve, refuse, hang, slow, garbage, redirect), and an SMTP server
(aiosmtpd); every request and message is recorded."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from nodewave.localcluster.controlplane import free_port

APPROVE, REFUSE, HANG, GARBAGE, REDIRECT = "approve", "refuse", "hang", "garbage", "redirect"
SLOW = "slow"
"""Answers 200, after SLOW_SECONDS."""
SLOW_SECONDS = 3.0


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

    def __init__(self, address: str = "127.0.0.1") -> None:
        self.address = address
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
                if answer == SLOW:
                    receiver._stop.wait(SLOW_SECONDS)
                    answer = APPROVE
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

        self.server = ThreadingHTTPServer((address, 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://{self.address}:{self.port}{path}"

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


class MailReceiver:
    """An SMTP server on loopback that keeps every message."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._lock = threading.Lock()
        self.port = free_port()
        receiver = self

        class Handler:
            async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
                with receiver._lock:
                    receiver.messages.append(message_from_bytes(bytes(envelope.content or b"")))
                return "250 OK"

        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def subjects(self) -> list[str]:
        with self._lock:
            return [str(m["Subject"]) for m in self.messages]

    def start(self) -> MailReceiver:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()
