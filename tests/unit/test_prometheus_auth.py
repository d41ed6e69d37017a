"""Credentials, CA and headers of healthCheck.prometheus and healthCheck.alerts
(kube/prometheus.py), and the Secret reader behind them (kube/secrets.py): a credential goes
only where its Secret's annotation says, and a Secret is read once however many windows close."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest

from nodewave.kube.client import KubeError
from nodewave.kube.outbound import Outbound
from nodewave.kube.prometheus import Prometheus
from nodewave.kube.secrets import CACHE_SECONDS, SecretKey, SecretReader
from nodewave.models.job import PrometheusCheck, SecretKeyRef

PROM = "https://prom.monitoring:9090"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def secret(data: dict[str, str], allowed: str | None = PROM) -> dict[str, Any]:
    annotations = {} if allowed is None else {"nodewave.io/allowed-addresses": allowed}
    return {
        "metadata": {"annotations": annotations},
        "data": {k: b64(v) for k, v in data.items()},
    }


class FakeKube:
    """Secrets by name in namespace team-a; counts the GETs; each takes a moment."""

    def __init__(self, secrets: dict[str, dict[str, Any] | KubeError]) -> None:
        self.secrets = secrets
        self.gets: list[str] = []

    async def get(self, path: str) -> Any:
        self.gets.append(path)
        await asyncio.sleep(0.01)
        found = self.secrets.get(path.rsplit("/", 1)[-1])
        if isinstance(found, KubeError):
            raise found
        return found


SECRETS: dict[str, dict[str, Any] | KubeError] = {
    "prom": secret({"token": "t0ken\n", "user": "grafana", "password": "pw", "org": "team-a"}),
    "nowhere": secret({"token": "t0ken"}, allowed=None),
    "elsewhere": secret({"token": "t0ken"}, allowed="https://prom.other:9090"),
    "split": secret({"token": "a\nb"}),
    "denied": KubeError(403, "Forbidden", "no"),
}


def check(**fields: Any) -> PrometheusCheck:
    return PrometheusCheck.model_validate({"address": PROM, "query": "up", **fields})


def connect(endpoint: PrometheusCheck) -> Any:
    prometheus = Prometheus(Outbound(), SecretReader(FakeKube(SECRETS)))  # type: ignore[arg-type]
    result = asyncio.run(prometheus._connection("team-a", endpoint))
    return result if isinstance(result, str) else result[0]


def ref(name: str, key: str = "token") -> dict[str, str]:
    return {"name": name, "key": key}


@pytest.mark.parametrize(
    ("fields", "headers"),
    [
        ({}, {}),
        ({"headers": [{"name": "X-Scope-OrgID", "value": "team-a"}]}, {"X-Scope-OrgID": "team-a"}),
        # The token's trailing newline (kubectl create secret --from-file) is not sent.
        ({"authorization": {"credentials": ref("prom")}}, {"Authorization": "Bearer t0ken"}),
        ({"authorization": {"type": "Token", "credentials": ref("prom")}},
         {"Authorization": "Token t0ken"}),
        ({"basicAuth": {"username": ref("prom", "user"), "password": ref("prom", "password")}},
         {"Authorization": "Basic " + b64("grafana:pw")}),
        # With a credential, the tenant header is the Secret's (same annotation rule).
        ({"authorization": {"credentials": ref("prom")},
          "headers": [{"name": "X-Scope-OrgID", "valueFrom": {"secretKeyRef": ref("prom", "org")}}]},
         {"X-Scope-OrgID": "team-a", "Authorization": "Bearer t0ken"}),
        ({"headers": [{"name": "X-Api-Key", "valueFrom": {"secretKeyRef": ref("elsewhere")}}]},
         f"Secret elsewhere is not sent to {PROM}: its annotation "
         f"nodewave.io/allowed-addresses does not list {PROM}"),
        # A Job's own value beside a shared token would choose another tenant's data.
        ({"authorization": {"credentials": ref("prom")},
          "headers": [{"name": "X-Scope-OrgID", "value": "team-b"}]},
         "with authorization or basicAuth, headers take valueFrom.secretKeyRef"),
        ({"headers": [{"name": "X-Scope-OrgID", "value": "a"}, {"name": "x-scope-orgid", "value": "b"}]},
         "header names must be unique, whatever their case"),
        # Refused, saying why: nothing is sent.
        ({"authorization": {"credentials": ref("nowhere")}},
         f"Secret nowhere is not sent to {PROM}: it has no annotation "
         "nodewave.io/allowed-addresses listing where it may be sent"),
        ({"authorization": {"credentials": ref("elsewhere")}},
         f"Secret elsewhere is not sent to {PROM}: its annotation "
         f"nodewave.io/allowed-addresses does not list {PROM}"),
        ({"basicAuth": {"username": ref("prom", "user"), "password": ref("elsewhere")}},
         f"Secret elsewhere is not sent to {PROM}: its annotation "
         f"nodewave.io/allowed-addresses does not list {PROM}"),
        ({"authorization": {"credentials": ref("split")}},
         "Secret split key token is not printable ASCII"),
        ({"authorization": {"credentials": ref("denied")}},
         "the operator may not read Secret denied: add it to the chart value "
         "healthChecks.secretNames"),
        ({"authorization": {"credentials": ref("absent")}}, "Secret absent not found"),
        ({"authorization": {"credentials": ref("prom", "nokey")}}, "Secret prom has no key nokey"),
        ({"caSecretRef": ref("prom")}, "Secret prom key token is not a PEM CA bundle"),
        # The CRD refuses these; a Job stored under an older CRD is refused here.
        ({"headers": [{"name": "authorization", "value": "Bearer stolen"}]},
         "headers may not set authorization"),
    ],
)  # fmt: skip
def test_the_connection_to_prometheus(
    fields: dict[str, Any], headers: dict[str, str] | str
) -> None:
    assert connect(check(**fields)) == headers


def test_a_secret_is_read_once_per_cache_period_however_many_ask() -> None:
    kube = FakeKube(SECRETS)
    now = [0.0]
    reader = SecretReader(kube, lambda: now[0])  # type: ignore[arg-type]
    token = SecretKeyRef(name="prom", key="token")

    async def read_many() -> set[bytes]:
        keys = await asyncio.gather(*(reader.read_key("team-a", token, "x") for _ in range(500)))
        return {k.value for k in keys if not isinstance(k, str)}

    assert asyncio.run(read_many()) == {b"t0ken\n"}
    assert kube.gets == ["/api/v1/namespaces/team-a/secrets/prom"]
    now[0] = CACHE_SECONDS - 0.1
    asyncio.run(read_many())
    assert len(kube.gets) == 1
    now[0] = CACHE_SECONDS  # a rotated Secret is read again
    asyncio.run(read_many())
    assert len(kube.gets) == 2


def test_an_unreachable_api_server_is_an_answer_not_an_exception() -> None:
    class Down(FakeKube):
        async def get(self, path: str) -> Any:
            raise ConnectionRefusedError(111, "Connection refused")

    reader = SecretReader(Down({}))  # type: ignore[arg-type]
    got = asyncio.run(reader.read_key("team-a", SecretKeyRef(name="prom", key="t"), "x"))
    assert got == "cannot read Secret prom: ConnectionRefusedError: [Errno 111] Connection refused"


def test_a_refusal_is_kept_for_the_cache_period_a_passing_failure_is_asked_again() -> None:
    kube = FakeKube({"denied": KubeError(403, "Forbidden", "no"),
                     "flaky": KubeError(500, "InternalError", "etcd")})  # fmt: skip
    reader = SecretReader(kube)  # type: ignore[arg-type]

    async def read(name: str) -> object:
        return await reader.read_key("team-a", SecretKeyRef(name=name, key="token"), "x")

    assert asyncio.run(read("flaky")) == "cannot read Secret flaky: 500 InternalError: etcd"
    kube.secrets["flaky"] = secret({"token": "t"})
    assert asyncio.run(read("flaky")) == SecretKey(b"t", PROM)
    asyncio.run(read("denied"))
    asyncio.run(read("denied"))
    assert [p.rsplit("/", 1)[-1] for p in kube.gets] == ["flaky", "flaky", "denied"]
