"""The other systems the example Jobs talk to, played on loopback for `nodewave demo`.

`examples/agent-gated.yaml` gates its rollouts on a change board, a load test, a chat approval
and an SLO watcher, and tells a changelog and a chat channel how they went; none of those
exists on a local control plane. This receiver answers for all of them as a healthy
organisation would: every confirmation and load test passes, the SLO watcher sees no burn (a
non-2xx answer, which asks for no rollback: only a 2xx does), the changelog and the chat take
what they are told. Each webhook call's HMAC signature is checked with the key the demo put in
the Job's Secret, so the demo shows signed calls, not just calls.
"""

from __future__ import annotations

import hmac
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from nodewave.core.rollout.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, build_signature

HOOKS_PATH = "/hooks/"
CHAT_PATH = "/chat"

ANSWERS: dict[str, tuple[int, str]] = {
    "ConfirmRollout": (200, "change CHG-4711 approved by the change board"),
    "PreWave": (200, "load test passed: p99 41 ms, 0 errors"),
    "ConfirmPromotion": (200, "approved in #node-ops"),
    "Rollback": (409, "error budget 97 % left: no rollback"),
    "PostRollout": (200, "recorded in the changelog"),
}
"""Webhook type → the status and text this receiver answers."""


@dataclass(frozen=True, slots=True)
class Call:
    """One request received: a webhook call (`kind` its type) or a chat notification."""

    kind: str
    job: str
    text: str
    signed: bool | None
    """Whether the signature was valid; None when the call carried none."""


class DemoReceiver:
    """A ThreadingHTTPServer on 127.0.0.1 (a free port) until `stop`."""

    def __init__(self, key: bytes) -> None:
        self.key = key
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def received(self) -> list[Call]:
        with self._lock:
            return list(self.calls)

    def _record(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)

    def answer(self, path: str, headers: Any, raw: bytes) -> tuple[int, str]:
        """Record the request and choose the answer (called from the server's threads)."""
        try:
            body = json.loads(raw)
        except ValueError:
            return 400, "not JSON"
        if path == CHAT_PATH:
            self._record(Call("chat", "", str(body.get("title", "")), None))
            return 200, "ok"
        if not path.startswith(HOOKS_PATH) or not isinstance(body, dict):
            return 404, "no such endpoint"
        kind = str((body.get("webhook") or {}).get("type", ""))
        signature, timestamp = headers.get(SIGNATURE_HEADER), headers.get(TIMESTAMP_HEADER)
        signed = None
        if signature is not None and timestamp is not None:
            signed = hmac.compare_digest(
                signature, build_signature(self.key, "POST", self.url + path, timestamp, raw)
            )
        job = str((body.get("job") or {}).get("name", ""))
        status, text = ANSWERS.get(kind, (404, f"no answer for a {kind!r} webhook"))
        if signed is False:
            status, text = 401, "bad signature"
        wave = body.get("wave")
        self._record(
            Call(kind, job, f"{path.removeprefix(HOOKS_PATH)} wave {wave}: {text}", signed)
        )
        return status, text

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, text = receiver.answer(self.path, self.headers, raw)
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the demo prints what it received itself."""

        return Handler


def build_local_examples(
    docs: list[dict[str, Any]], base_url: str
) -> tuple[list[dict[str, Any]], list[str]]:
    """The example Jobs with each webhook's URL pointed at this receiver (its path names the
    webhook), and one line per change, to show the user what was changed. What an example
    brings besides its Jobs (agent-gated's in-cluster receiver and its Secret) is left out: the
    receiver here plays it, with a key of its own."""
    changed: list[str] = []
    out = []
    for doc in json.loads(json.dumps(docs)):  # a deep copy of plain data
        name = doc.get("metadata", {}).get("name", "")
        if doc.get("kind") != "Job":
            changed.append(f"{doc.get('kind')}/{name}: played on loopback instead")
            continue
        for hook in (doc.get("spec") or {}).get("rollout", {}).get("webhooks") or []:
            local = f"{base_url}{HOOKS_PATH}{hook['name']}"
            changed.append(f"{name}/{hook['name']} ({hook['type']}): {hook['url']} -> {local}")
            hook["url"] = local
        out.append(doc)
    return out, changed
