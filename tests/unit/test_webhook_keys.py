"""The signing key of a webhook (kube/webhooks.py): read from the Job's namespace, and never
empty, missing or unreadable without the call being refused with a reason (issue 26: an empty
key signed every payload with an HMAC anyone can compute)."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest

from nodewave.kube.client import KubeError
from nodewave.kube.outbound import Outbound
from nodewave.kube.webhooks import WebhookRunner


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
    runner = WebhookRunner(kube, Outbound())  # type: ignore[arg-type]
    assert asyncio.run(runner._secret_key("team-a", "hooks", "hmac")) == key
    assert kube.paths == ["/api/v1/namespaces/team-a/secrets/hooks"]
