"""The signing key of a webhook (kube/webhooks.py): read from the Job's namespace, and never
empty, missing or unreadable without the call being refused with a reason (issue 26: an empty
key signed every payload with an HMAC anyone can compute)."""

from __future__ import annotations

import asyncio
import base64
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID

from nodewave.core.operator.egress import DEFAULT_ALLOWED, build_egress_policy
from nodewave.core.vocabulary.actions import CallWebhook
from nodewave.kube.client import KubeError
from nodewave.kube.outbound import Outbound
from nodewave.kube.secrets import SecretReader
from nodewave.kube.webhooks import WebhookRunner
from nodewave.localcluster.pki import issue_certificate, write_pki
from nodewave.models.job import SecretKeyRef, Webhook


class FakeKube:
    def __init__(self, secret: dict[str, Any] | KubeError | None) -> None:
        self.secret = secret
        self.paths: list[str] = []

    async def get(self, path: str) -> Any:
        self.paths.append(path)
        if isinstance(self.secret, KubeError):
            raise self.secret
        return self.secret


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    ("secret", "key"),
    [
        ({"data": {"hmac": b64("s3cret")}}, b"s3cret"),
        ({"data": {"hmac": ""}}, "Secret hooks key hmac is empty: nothing is signed with an empty key"),
        ({"data": {}}, "Secret hooks has no key hmac"),
        ({"data": {"hmac": "%%%"}}, "Secret hooks key hmac is not base64"),
        (None, "Secret hooks not found"),
        (KubeError(403, "Forbidden", "no"),
         "the operator may not read Secret hooks: add it to the chart value webhooks.secretNames"),
    ],
)  # fmt: skip
def test_a_signing_key_or_why_there_is_none(
    secret: dict[str, Any] | KubeError | None, key: bytes | str
) -> None:
    kube = FakeKube(secret)
    runner = WebhookRunner(SecretReader(kube), Outbound())  # type: ignore[arg-type]
    ref = SecretKeyRef(name="hooks", key="hmac")
    assert asyncio.run(runner._signing_key("team-a", ref)) == key
    assert kube.paths == ["/api/v1/namespaces/team-a/secrets/hooks"]


# ---- a CA bundle from a Secret (caSecretRef) -------------------------------------------------


@pytest.fixture(scope="module")
def private_ca(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """An HTTPS endpoint on 127.0.0.1 whose certificate a private CA signed: its URL, the
    CA's PEM, and the PEM of another CA."""
    pki, other = tmp_path_factory.mktemp("pki"), tmp_path_factory.mktemp("other")
    write_pki(pki)
    write_pki(other)
    issue_certificate(pki, "hook", "hook", ExtendedKeyUsageOID.SERVER_AUTH, ips=("127.0.0.1",))

    class Approve(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Approve)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki / "hook.crt", pki / "hook.key")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"https://127.0.0.1:{server.server_address[1]}/hook"
    yield url, (pki / "ca.crt").read_text(), (other / "ca.crt").read_text()
    server.shutdown()
    server.server_close()


LOOPBACK = build_egress_policy(allowed=(*DEFAULT_ALLOWED, "127.0.0.1/32"))


def call(url: str, secret: dict[str, Any] | None, ca: bool) -> tuple[bool, str]:
    hook = {"name": "cab", "type": "ConfirmRollout", "url": url}
    if ca:
        hook["caSecretRef"] = {"name": "hooks", "key": "ca.crt"}
    webhook = Webhook.model_validate(hook)
    runner = WebhookRunner(
        SecretReader(FakeKube(secret)),  # type: ignore[arg-type]
        Outbound(policy=LOOPBACK),
    )

    async def run() -> tuple[bool, str]:
        try:
            return await runner._call(CallWebhook("k", "team-a", "j", webhook, {}))
        finally:
            await runner.outbound.close()

    return asyncio.run(run())


def test_an_endpoint_of_a_private_ca_is_verified_with_the_secrets_bundle(
    private_ca: tuple[str, str, str],
) -> None:
    url, pem, another = private_ca
    assert call(url, {"data": {"ca.crt": b64(pem)}}, ca=True) == (True, "HTTP 200: ok")
    ok, why = call(url, None, ca=False)  # the system's CAs do not know it
    assert not ok
    assert "CERTIFICATE_VERIFY_FAILED" in why
    other = call(url, {"data": {"ca.crt": b64(another)}}, ca=True)
    assert not other[0]
    assert "CERTIFICATE_VERIFY_FAILED" in other[1]


@pytest.mark.parametrize(
    ("secret", "why"),
    [
        ({"data": {"ca.crt": b64("not a certificate")}}, "Secret hooks key ca.crt is not a PEM CA bundle"),
        ({"data": {}}, "Secret hooks has no key ca.crt"),
        (None, "Secret hooks not found"),
    ],
)  # fmt: skip
def test_a_bundle_that_cannot_be_had_is_named_and_nothing_is_sent(
    private_ca: tuple[str, str, str], secret: dict[str, Any] | None, why: str
) -> None:
    assert call(private_ca[0], secret, ca=True) == (False, why)


def test_a_ca_bundle_is_for_https_endpoints_only() -> None:
    rules = [r["rule"] for r in Webhook.model_json_schema()["x-kubernetes-validations"]]
    assert "!has(self.caSecretRef) || self.url.startsWith('https://')" in rules
